"""ebmspec: a declarative model-spec compiler for energy-based models over mixed variables.

In: a `.ebm` file. Out: a checked, frozen IR (`ebmspec.api.compile_spec`), PyTorch energy modules
(`ebmspec.runtime.model.energy.lower_energy`) and standalone Python (`ebmspec.codegen.emit_python`).

The public Python API, importable from here (loaded on first use, so `import ebmspec` stays
cheap - no torch until a name below is touched):

    load(spec, profile=None, set=None) -> Model    a checked spec; Model.fit(folder) -> Run
    load_run(folder=None) -> Run                   a trained run; Run.sample(...), Run.evaluate()
    Model, Run, Samples                            the classes (ebmspec/api/)
    UserError                                      what every located mistake raises
"""

from __future__ import annotations

__version__ = "0.1.0"

__all__ = ["Model", "Run", "Samples", "UserError", "load", "load_run"]

TYPE_CHECKING = False  # typing.TYPE_CHECKING without importing typing (type checkers read it)
if TYPE_CHECKING:
    from ebmspec.api.model import Model, load
    from ebmspec.api.run import Run, load_run
    from ebmspec.api.samples import Samples
    from ebmspec.diagnostics import UserError


def __getattr__(name: str):
    """The public names, imported when first asked for (PEP 562)."""
    if name in ("Model", "load"):
        from ebmspec.api import model as module
    elif name in ("Run", "load_run"):
        from ebmspec.api import run as module
    elif name == "Samples":
        from ebmspec.api import samples as module
    elif name == "UserError":
        from ebmspec import diagnostics as module
    else:
        raise AttributeError(f"module 'ebmspec' has no attribute {name!r}")
    value = getattr(module, name)
    globals()[name] = value  # later lookups skip this function
    return value


def __dir__() -> list[str]:
    return sorted([*globals(), *__all__])
