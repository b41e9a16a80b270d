"""Text dumps of each pipeline stage (`ebmspec compile --emit ast|ir|schedule`): golden formats.

In: an AST, an IR program, or its sampler schedule. Out: deterministic text, one item per line,
spans as `@line:col`; `tests/golden/` holds the expected dumps of every spec in `specs/`.
"""

from __future__ import annotations

from ebmspec import ir
from ebmspec.frontend import ast


def dump_ast(program: ast.Program) -> str:
    return ir.dump(program) + "\n"


def dump_ir(program: ir.Program) -> str:
    return ir.dump(program) + "\n"


def _call(call: ir.Call) -> str:
    args = ", ".join(f"{k}={ir.format_value(v)}" for k, v in call.args)
    return f"{call.name}({args})"


def dump_schedule(program: ir.Program) -> str:
    """The sampler plan: per sampler, the init distributions and the ordered blocks of a sweep."""
    lines = []
    for sampler in program.samplers:
        lines.append(
            f"sampler {sampler.name}  # {sampler.sweeps} sweep(s) by default @{sampler.span}"
        )
        for init in sampler.inits:
            mark = "  (default)" if init.default else ""
            lines.append(f"  init {', '.join(init.variables)} ~ {_call(init.dist)}{mark}")
        for index, block in enumerate(sampler.blocks):
            mark = "  (default)" if block.default else ""
            lines.append(
                f"  block {index}: update {', '.join(block.variables)} with {_call(block.kernel)}"
                f" x{block.repeats}{mark} @{block.span}"
            )
    return "\n".join(lines) + "\n"
