"""Codegen: `ir.Program` in, standalone Python source out (Jinja2 templates in `templates/`).

The emitted module needs only torch. It contains `runtime/model/ops.py` and the torch part of every
building block of `runtime/model/blocks/` verbatim, an `EnergyModel` whose `forward` is the energy
graph written out as straight-line code, a safetensors reader for the parameters ebmspec saves,
the kernels and the schedule of `runtime/sampling/kernels/` and `runtime/sampling/schedule.py`
verbatim with the spec's samplers as plain tables (`SAMPLERS`, `DEFAULT_SAMPLER`, `sample`), and a
`main` that samples with `--condition`. Spec identifiers only ever appear in generated code as
string literals (`repr`) or behind a prefix (`v_`, `l_`), so names such as `class`, `lambda`,
`__import__` or `torch` are safe.
"""

from ebmspec.codegen.emit import emit_python

__all__ = ["emit_python"]
