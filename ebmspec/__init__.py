"""ebmspec: a declarative model-spec compiler for energy-based models over mixed variables.

In: a `.ebm` file. Out: a checked, frozen IR (`ebmspec.api.compile_spec`), PyTorch energy modules
(`ebmspec.runtime.model.energy.lower_energy`) and standalone Python (`ebmspec.codegen.emit_python`).
"""

__version__ = "0.1.0"
