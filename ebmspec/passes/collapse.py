"""Collapsed negative chains: the labels training's chains sum out exactly instead of sampling.

In: a checked program (after its profile and settings). Out: `collapse_plan(program)`, a
`Collapse` saying which discrete variables the objective's negative chains marginalise and which
sampler blocks stop running, or None when the chains stay joint.

JEM's generative term (`generative = marginal`, and the joint chains of `both`) needs samples of x
from p(x) = sum_y p(x, y) and, for the gradient of log Z, E_{p(x, y)}[grad f(x, y)] =
E_{p(x)}[grad log sum_y exp f(x, y)]. When y's joint values can be listed, the chains can
therefore sample x on the marginal energy log sum_y exp f(x, y) and the negative term read that
marginal at x-: a Rao-Blackwellised estimator (the label's sampling noise summed out exactly) and
no label block in the sweep. Nothing of y's sampled value is then needed, so y is not drawn.

The planner collapses only where listing the labels is cheap: the energy splits for moves of
the labels (`plan_cache`) and evaluating its head at every joint value costs no more than its
static part (`C * head_macs <= root_macs`). A JEM classifier `mlp(x)[y]` qualifies (the head is
an index); an energy that feeds `onehot(y)` into a network's first layer does not (C network
evaluations per step against one). `jem(..., collapse = false)` keeps the joint chains.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from ebmspec import ir
from ebmspec.passes.plan_cache import split_energy
from ebmspec.semantic import registry as reg

# Objectives whose negative chains may be collapsed, and the `generative` settings that need
# samples of x only (jem's `conditional` chains keep their labels: those are needed).
COLLAPSIBLE = {"jem": ("marginal", "both")}


@dataclass(frozen=True)
class Collapse:
    """Training's negative chains with `labels` summed out.

    sampler: the objective's sampler; labels: the discrete variables summed out; values: their
    joint values (the enumeration each evaluation lists); dropped: the indices of the sampler's
    blocks that no longer run (they move summed-out labels only); root_macs / head_macs: the
    energy's split for the labels (multiply-adds per example)."""

    sampler: str
    labels: tuple[str, ...]
    values: int
    dropped: tuple[int, ...]
    root_macs: int
    head_macs: int


def objective_labels(program: ir.Program) -> tuple[str, ...]:
    """The labels the objective enumerates: its `label`, else every observed discrete variable
    (the checker allows jem without `label` only when they can be enumerated jointly)."""
    label = dict(program.train.objective.args).get("label") if program.train else None
    if label:
        return (label,)
    return tuple(v.name for v in program.variables if v.discrete and v.observed)


def _runs_without(block: ir.Block, program: ir.Program, summed: set) -> bool:
    """Whether `block` still moves something with `summed` gone: a mixed (whole-block) kernel
    such as `jump` needs a free label to jump between."""
    free = [n for n in block.variables if n not in summed]
    if not free:
        return False
    if reg.KERNELS[block.kernel.name].extra.get("mixed"):
        return any(program.variable(n).discrete for n in free)
    return True


def collapse_plan(program: ir.Program) -> Collapse | None:
    """The collapse of the training chains, or None (no train block, an objective whose negative
    term reads the sampled labels, `collapse = false`, or listing the labels would cost more than
    the network's static part)."""
    train = program.train
    if train is None or train.objective.name not in COLLAPSIBLE:
        return None
    args = dict(train.objective.args)
    if not args.get("collapse", True):
        return None
    if str(args.get("generative", "marginal")) not in COLLAPSIBLE[train.objective.name]:
        return None
    labels = objective_labels(program)
    if not labels:
        return None
    values = math.prod(program.variable(n).cardinality or 0 for n in labels)
    if not 1 < values <= reg.MAX_ENUMERABLE:
        return None
    split = split_energy(program.energy, tuple(sorted(labels)))
    if not split.worth_caching or values * split.head_macs > split.root_macs:
        return None
    name = args.get("sampler") or program.samplers[0].name
    sampler = program.sampler(name)
    summed = set(labels)
    dropped = tuple(
        i for i, b in enumerate(sampler.blocks) if not _runs_without(b, program, summed)
    )
    if len(dropped) == len(sampler.blocks):
        return None  # nothing would move x
    return Collapse(name, labels, values, dropped, split.root_macs, split.head_macs)


def describe(plan: Collapse, program: ir.Program) -> list[str]:
    """Lines for `--emit schedule`: what the training chains sum out and what stops running."""
    sampler = program.sampler(plan.sampler)
    names = ", ".join(plan.labels)
    lines = [
        f"training chains  # {ir.format_call(program.train.objective)}",
        f"  collapsed: {names} ({plan.values} joint values) summed out exactly; the chains move "
        f"the rest on log sum_{{{names}}} exp f",
        f"  cost per evaluation: static part {plan.root_macs:,} + {plan.values} x head "
        f"{plan.head_macs:,} multiply-adds per chain",
    ]
    for index, block in enumerate(sampler.blocks):
        state = "dropped (moves summed-out labels only)" if index in plan.dropped else "runs"
        lines.append(
            f"  block {index}: update {', '.join(block.variables)} with "
            f"{block.kernel.name}: {state}"
        )
    lines.append(f"  negative term: log sum_{{{names}}} exp f(x-, {names}); {names} not drawn")
    lines.append("  off switch: `collapse = false` in the objective")
    return lines
