"""Text dumps of each pipeline stage (`ebmspec compile --emit ast|ir|schedule`): golden formats.

In: an AST, an IR program, or its sampler schedule. Out: deterministic text, one item per line,
spans as `@line:col`; `tests/golden/` holds the expected dumps of every spec in `specs/`.
"""

from __future__ import annotations

from ebmspec import ir
from ebmspec.frontend import ast
from ebmspec.passes.plan_sweep import BlockPlan, plan_sweeps


def dump_ast(program: ast.Program) -> str:
    return ir.dump(program) + "\n"


def dump_ir(program: ir.Program) -> str:
    return ir.dump(program) + "\n"


def _call(call: ir.Call) -> str:
    args = ", ".join(f"{k}={ir.format_value(v)}" for k, v in call.args)
    return f"{call.name}({args})"


_KNOWN = {"full": "f + gradients", "f": "f", "none": "nothing"}


def _cost(passes: int, forwards: int) -> str:
    text = f"{passes} fwd+bwd"
    return text + f" + {forwards} fwd" if forwards else text


def _entry(plan: BlockPlan) -> str:
    if plan.entry == "reuse":
        what = "gradients" if plan.reads == "grad" else "f"
        return f"reuse {what} from block {plan.source}"
    return {
        "evaluate": "evaluate f + gradients",
        "forward": "evaluate f",
        "none": "reads nothing",
    }[plan.entry]


def dump_schedule(program: ir.Program) -> str:
    """The sampler plan: per sampler, the init distributions, the ordered blocks of a sweep and
    the planned gradient reuse (steady state), with the passes per sweep fused and naive."""
    lines = []
    for sampler, plan in zip(program.samplers, plan_sweeps(program), strict=True):
        lines.append(
            f"sampler {sampler.name}  # {sampler.sweeps} sweep(s) by default @{sampler.span}"
        )
        for init in sampler.inits:
            mark = "  (default)" if init.default else ""
            lines.append(f"  init {', '.join(init.variables)} ~ {_call(init.dist)}{mark}")
        for index, (block, step) in enumerate(zip(sampler.blocks, plan.blocks, strict=True)):
            mark = "  (default)" if block.default else ""
            lines.append(
                f"  block {index}: update {', '.join(block.variables)} with {_call(block.kernel)}"
                f" x{block.repeats}{mark} @{block.span}"
            )
            lines.append(
                f"    entry: {_entry(step)}; cost {_cost(step.passes, step.forwards)};"
                f" leaves {_KNOWN[step.leaves]}"
            )
        lines.append(
            f"  per sweep: fused {_cost(plan.fused_passes, plan.fused_forwards)},"
            f" naive {_cost(plan.naive_passes, plan.naive_forwards)}"
        )
    return "\n".join(lines) + "\n"
