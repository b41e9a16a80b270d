"""Plan the gradient work of each sampler sweep (fusion across blocks).

In: a program after `fill_sampler_defaults`. Out: one `SweepPlan` per sampler saying, for every
block, whether its entry point must be evaluated or can reuse the energy and gradients a previous
block left (DESIGN.md section 4), and the evaluations per sweep with and without that reuse.
Every evaluation yields f and the gradients of all free variables, so the cache survives until a
kernel moves the state without evaluating there (Langevin, Gibbs). The runtime
(`runtime/schedule.py`) follows the same rule dynamically; tests check it does what is planned.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from ebmspec import ir
from ebmspec.semantic import registry as reg

# What each `reads` needs from the entry point, by what the previous block `leaves`.
_SATISFIES = {"grad": ("full",), "f": ("full", "f"), "none": ("full", "f", "none")}


@dataclass(frozen=True)
class BlockPlan:
    """Entry and cost of one block in a steady-state sweep (repeats included).

    entry:     "evaluate" (one forward+backward), "forward" (f only), "reuse" or "none".
    source:    index of the block whose evaluation is reused (entry == "reuse"), else None.
    passes:    forward+backward passes per sweep of this block, entry included.
    forwards:  forward-only passes per sweep (Gibbs enumerations, Metropolis proposals).
    """

    block: ir.Block
    entry: str
    source: int | None
    passes: int
    forwards: int
    reads: str
    leaves: str


@dataclass(frozen=True)
class SweepPlan:
    sampler: str
    blocks: tuple[BlockPlan, ...]
    fused_passes: int
    naive_passes: int
    fused_forwards: int
    naive_forwards: int


def _inner_cost(block: ir.Block, program: ir.Program) -> tuple[int, int]:
    """(forward+backward, forward-only) passes of one step, not counting its entry."""
    name = block.kernel.name
    if name in ("gwg", "mala"):
        return 1, 0
    if name == "hmc":
        return int(block.kernel.arg("leapfrog")), 0
    if name == "metropolis":
        return 0, 1
    if name == "gibbs":  # one batched forward per site
        return 0, sum(math.prod(program.variable(v).shape) for v in block.variables)
    return 0, 0


def _entry_cost(reads: str, known: str) -> tuple[str, int, int]:
    if known in _SATISFIES[reads]:
        return ("none" if reads == "none" else "reuse"), 0, 0
    if reads == "grad":
        return "evaluate", 1, 0
    return "forward", 0, 1


def _simulate(sampler: ir.Sampler, program: ir.Program, known: str, source, fuse: bool):
    """One sweep from the cache state `known` (left by block `source`); returns the block plans
    and the cache state at the end."""
    plans = []
    for index, block in enumerate(sampler.blocks):
        traits = reg.KERNELS[block.kernel.name].extra
        inner_passes, inner_forwards = _inner_cost(block, program)
        passes = forwards = 0
        first_entry, first_source = None, None
        for _ in range(block.repeats):
            entry, p, f = _entry_cost(traits["reads"], known if fuse else "none")
            if first_entry is None:
                first_entry, first_source = entry, source if entry == "reuse" else None
            passes += p + inner_passes
            forwards += f + inner_forwards
            known, source = traits["leaves"], index
        plans.append(
            BlockPlan(
                block,
                first_entry,
                first_source,
                passes,
                forwards,
                traits["reads"],
                traits["leaves"],
            )
        )
    return plans, known, source


def plan_sweep(sampler: ir.Sampler, program: ir.Program) -> SweepPlan:
    # The steady state: a sweep entered with what the previous sweep left.
    _, known, source = _simulate(sampler, program, "none", None, True)
    fused, _, _ = _simulate(sampler, program, known, source, True)
    naive, _, _ = _simulate(sampler, program, "none", None, False)
    return SweepPlan(
        sampler.name,
        tuple(fused),
        sum(p.passes for p in fused),
        sum(p.passes for p in naive),
        sum(p.forwards for p in fused),
        sum(p.forwards for p in naive),
    )


def plan_sweeps(program: ir.Program) -> tuple[SweepPlan, ...]:
    return tuple(plan_sweep(sampler, program) for sampler in program.samplers)
