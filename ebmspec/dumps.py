"""Text dumps of each pipeline stage (`ebmspec compile --emit ast|ir|schedule`): golden formats.

In: an AST, an IR program, or its sampler schedule. Out: deterministic text, one item per line,
spans as `@line:col`; `tests/golden/` holds the expected dumps of every spec in `specs/`.
"""

from __future__ import annotations

from ebmspec import ir
from ebmspec.frontend import ast
from ebmspec.passes.collapse import collapse_plan
from ebmspec.passes.collapse import describe as describe_collapse
from ebmspec.passes.plan_sweep import BlockPlan, CachedBlock, Cost, SweepPlan, plan_sweeps


def dump_ast(program: ast.Program) -> str:
    return ir.dump(program) + "\n"


def dump_ir(program: ir.Program) -> str:
    return ir.dump(program) + "\n"


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


def cost_text(cost: Cost) -> str:
    """`1 static forward + 2 head fwd+bwd`: the nonzero counts of a cached sweep or block."""
    parts = [
        (cost.passes, "fwd+bwd"),
        (cost.forwards, "fwd"),
        (cost.root_forwards, "static forward"),
        (cost.root_backwards, "static backward"),
        (cost.head_passes, "head fwd+bwd"),
        (cost.head_forwards, "head fwd"),
    ]
    text = " + ".join(f"{count} {what}" for count, what in parts if count)
    return text or "nothing"


def static_part(block: CachedBlock) -> str:
    """What a caching block keeps: the static let bindings and the roots of its split."""
    split = block.split
    lets = [f"`{name}`" for name in split.static_lets if name not in split.head_lets]
    return f"static part for moves of {', '.join(split.moving)}: " + "; ".join(
        lets + split.describe()
    )


def _megamacs(value: int) -> str:
    return f"{value / 1e6:.3g}M" if value >= 1e5 else f"{value / 1e3:.3g}k"


def sweep_costs(plan: SweepPlan) -> str:
    """Per-sweep work with caching, and the multiply-adds per chain against fused and naive."""
    return (
        f"per sweep cached: {cost_text(plan.cached_cost)}; "
        f"~{_megamacs(plan.macs(plan.cached_cost))} multiply-adds per chain "
        f"(fused {_megamacs(plan.macs(plan.fused_cost))}, "
        f"naive {_megamacs(plan.macs(plan.naive_cost))})"
    )


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
            lines.append(f"  init {', '.join(init.variables)} ~ {ir.format_call(init.dist)}{mark}")
        for index, (block, step) in enumerate(zip(sampler.blocks, plan.blocks, strict=True)):
            mark = "  (default)" if block.default else ""
            lines.append(
                f"  block {index}: update {', '.join(block.variables)} with "
                f"{ir.format_call(block.kernel)}"
                f" x{block.repeats}{mark} @{block.span}"
            )
            if block.colouring is not None:
                lines.append(f"    colouring: {block.colouring.describe()}")
            lines.append(
                f"    entry: {_entry(step)}; cost {_cost(step.passes, step.forwards)};"
                f" leaves {_KNOWN[step.leaves]}"
            )
            cached = plan.cached[index]
            if cached.split is not None:
                lines.append(f"    cached: {static_part(cached)}")
            source = (
                f" (static part of block {cached.source})"
                if cached.source is not None and cached.source != index
                else ""
            )
            lines.append(f"    cached cost: {cost_text(cached.cost)}{source}")
        lines.append(
            f"  per sweep: fused {_cost(plan.fused_passes, plan.fused_forwards)},"
            f" naive {_cost(plan.naive_passes, plan.naive_forwards)}"
        )
        lines.append(f"  {sweep_costs(plan)}")
    collapse = collapse_plan(program)
    if collapse is not None:
        lines += describe_collapse(collapse, program)
    return "\n".join(lines) + "\n"
