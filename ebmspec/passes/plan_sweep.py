"""Plan the energy work of each sampler sweep: fusion and caching across blocks.

In: a program after `fill_sampler_defaults`. Out: one `SweepPlan` per sampler saying, for every
block, whether its entry point must be evaluated or can reuse the energy and gradients a previous
block left (docs/design/DESIGN.md section 4), and the evaluations per sweep with and without that
reuse. Every evaluation yields f and the gradients of all free variables, so the cache survives
until a kernel moves the state without evaluating there (Langevin, Gibbs).

With caching (`passes.plan_cache`), a block whose moves leave an expensive part of the energy
alone evaluates that *static part* once at its entry and its proposals by the *head*; the next
block gets its gradients by one backward from the static part. `Cost` counts each kind of work
per steady sweep, exactly as `kernels.base.Target` counts it; tests check the runtime spends what
is planned, for fused, naive and cached sweeps.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, replace

from ebmspec import ir
from ebmspec.passes import plan_cache
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
class Cost:
    """Energy work, counted as `Target` counts it: full evaluations with and without a backward
    pass, head evaluations with and without, static-part forwards and backwards."""

    passes: int = 0
    forwards: int = 0
    head_passes: int = 0
    head_forwards: int = 0
    root_forwards: int = 0
    root_backwards: int = 0

    def __add__(self, other: Cost) -> Cost:
        return Cost(*(a + b for a, b in zip(self.counts, other.counts, strict=True)))

    @property
    def counts(self) -> tuple[int, ...]:
        return (
            self.passes,
            self.forwards,
            self.head_passes,
            self.head_forwards,
            self.root_forwards,
            self.root_backwards,
        )

    def macs(self, full: int, root: int, head: int) -> int:
        """Multiply-adds per chain, a backward pass counted as one more forward (the samplers
        take gradients with respect to inputs only)."""
        return (
            2 * full * self.passes
            + full * self.forwards
            + 2 * head * self.head_passes
            + head * self.head_forwards
            + root * (self.root_forwards + self.root_backwards)
        )


@dataclass(frozen=True)
class CachedBlock:
    """One block of a cached sweep: its work, how its entry is served, what it leaves.

    split:  the energy split for this block's moves (None: the block does not cache).
    entry:  "reuse", "head" (static part kept, head evaluated), "static" (static part and head
            evaluated), "backward" (gradients by a backward from `source`'s static part),
            "evaluate" (full), "forward", "none".
    """

    cost: Cost
    split: plan_cache.EnergySplit | None
    entry: str
    source: int | None


@dataclass(frozen=True)
class SweepPlan:
    sampler: str
    blocks: tuple[BlockPlan, ...]
    fused_passes: int
    naive_passes: int
    fused_forwards: int
    naive_forwards: int
    cached: tuple[CachedBlock, ...] = ()
    cached_cost: Cost = Cost()
    full_macs: int = 0

    @property
    def fused_cost(self) -> Cost:
        return Cost(self.fused_passes, self.fused_forwards)

    @property
    def naive_cost(self) -> Cost:
        return Cost(self.naive_passes, self.naive_forwards)

    def macs(self, cost: Cost) -> int:
        """Multiply-adds per chain of `cost` (see `Cost.macs`), with this sampler's splits."""
        splits = [b.split for b in self.cached if b.split is not None]
        root = max((s.root_macs for s in splits), default=0)
        head = max((s.head_macs for s in splits), default=0)
        return cost.macs(self.full_macs, root, head)


def _enumerations(block: ir.Block, program: ir.Program) -> int:
    """Batched forwards of one per-site `gibbs` step: one per colour and variable (one per site
    without a colouring), or one for the joint values."""
    if block.kernel.arg("joint"):
        return 1
    if block.colouring is None:
        return sum(math.prod(program.variable(v).shape) for v in block.variables)
    colours, start = [], 0
    for name in block.variables:
        sites = math.prod(program.variable(name).shape)
        colours += [(c, name) for c in block.colouring.colours[start : start + sites]]
        start += sites
    return len(set(colours))


def _by_gradient(block: ir.Block) -> int:
    """The colours of a `gibbs` block drawn from gradients (0 when it enumerates)."""
    colouring = block.colouring
    if block.kernel.name != "gibbs" or colouring is None or colouring.draw != "gradient":
        return 0
    return colouring.count


def _reads(block: ir.Block) -> str:
    """What the block's kernel needs at its entry: its class's trait, or "grad" for colours
    drawn from gradients (`kernels.gibbs`)."""
    return "grad" if _by_gradient(block) else reg.KERNELS[block.kernel.name].extra["reads"]


def _inner_cost(block: ir.Block, program: ir.Program) -> tuple[int, int]:
    """(forward+backward, forward-only) passes of one step, not counting its entry."""
    name = block.kernel.name
    if name in ("gwg", "mala"):
        return 1, 0
    if name == "hmc":
        return int(block.kernel.arg("leapfrog")), 0
    if name == "metropolis":
        return 0, 1
    if name == "jump":  # one batched forward over the orbit
        return 0, 1
    if name == "gibbs":  # one evaluation per colour after the entry, or the enumerations
        if _by_gradient(block):
            return _by_gradient(block) - 1, 0
        return 0, _enumerations(block, program)
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
        reads = _reads(block)
        inner_passes, inner_forwards = _inner_cost(block, program)
        passes = forwards = 0
        first_entry, first_source = None, None
        for _ in range(block.repeats):
            entry, p, f = _entry_cost(reads, known if fuse else "none")
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
                reads,
                traits["leaves"],
            )
        )
    return plans, known, source


@dataclass(frozen=True)
class _Known:
    """What the runtime's `Point` knows between blocks of a cached sweep."""

    f: bool = False
    grads: frozenset = frozenset()
    memo: tuple | None = None  # the moving variables of the kept static part
    dstatics: bool = False
    source: int | None = None  # the block that evaluated the static part


def _cached_block(index, block, program, plans, known: _Known, movable: frozenset):
    """Mirror of `Target.with_grads` / `propose` / `memo` and each kernel's `step` (see
    kernels/*.py): the work of one step and what it leaves."""
    name, names = block.kernel.name, frozenset(block.variables)
    moving = tuple(sorted(names))
    split = plans.get(moving)
    cost = Cost()
    entry, source = "none", None

    def memo_for_block(known: _Known):
        nonlocal cost
        if known.memo == moving:
            return replace(known, f=known.f), "head"
        cost += Cost(root_forwards=1)
        return _Known(memo=moving, source=index), "static"

    def with_grads(known: _Known):
        nonlocal cost, entry, source
        if known.f and names <= known.grads:
            entry, source = "reuse", known.source
            return known
        if split is not None:
            known, entry = memo_for_block(known)
            cost += Cost(head_passes=1)
            source = known.source
            return replace(known, f=True, grads=names, dstatics=True)
        held = movable - frozenset(known.memo or ())
        if known.memo is not None and held and names <= held:
            if not known.dstatics:
                cost += Cost(head_passes=1)
            cost += Cost(root_backwards=1)
            entry, source = "backward", known.source
            return replace(known, f=True, grads=known.grads | frozenset(known.memo) | held)
        cost += Cost(passes=1)
        entry = "evaluate"
        return _Known(f=True, grads=movable)

    if name in ("gwg", "mala", "hmc", "langevin"):
        known = with_grads(known)
    if name == "gwg":
        if known.memo is not None and names <= frozenset(known.memo):
            cost += Cost(head_passes=1)
            return cost, entry, source, replace(known, grads=known.grads & names)
        cost += Cost(passes=1)
        return cost, entry, source, _Known(f=True, grads=known.grads & movable)
    if name == "langevin":
        return cost, entry, source, _Known()
    if name in ("mala", "hmc"):
        steps = 1 if name == "mala" else int(block.kernel.arg("leapfrog"))
        cost += Cost(passes=steps)
        return cost, entry, source, _Known(f=True, grads=known.grads)
    if name == "jump":  # the orbit in one full forward; it moves x, so no static part is kept
        cost += Cost(forwards=1)
        return cost, entry, source, _Known(f=True)
    if name == "block_gibbs" or _by_gradient(block):
        # One evaluation with gradients per colour (block_gibbs: one colour); the static part
        # of a split energy stays valid between colours, as `kernels.gibbs` keeps it.
        for colour in range(max(_by_gradient(block), 1)):
            first = (entry, source)
            known = with_grads(known)
            if colour:
                entry, source = first
            kept = name == "gibbs" and known.memo == moving
            known = _Known(memo=known.memo, source=known.source) if kept else _Known()
        return cost, entry, source, known
    if name == "gibbs":
        enumerations = _enumerations(block, program)
        if split is not None:
            known, entry = memo_for_block(known)
            source = known.source
            cost += Cost(head_forwards=enumerations)
            return cost, entry, source, _Known(memo=known.memo, source=known.source)
        cost += Cost(forwards=enumerations)
        return cost, entry, source, _Known()
    # metropolis
    discrete = program.variable(block.variables[0]).discrete
    if known.f:
        entry, source = "reuse", known.source
    elif discrete and split is not None:
        known, entry = memo_for_block(known)
        source = known.source
        cost += Cost(head_forwards=1)
        known = replace(known, f=True, grads=frozenset(), dstatics=False)
    else:
        entry = "forward"
        cost += Cost(forwards=1)
        known = _Known(f=True)
    if discrete and known.memo is not None and names <= frozenset(known.memo):
        cost += Cost(head_forwards=1)
        return cost, entry, source, _Known(f=True, memo=known.memo, source=known.source)
    cost += Cost(forwards=1)
    return cost, entry, source, _Known(f=True)


def _simulate_cached(sampler, program, plans, known: _Known):
    movable = frozenset(v.name for v in program.variables)
    blocks = []
    for index, block in enumerate(sampler.blocks):
        total, first = Cost(), None
        for _ in range(block.repeats):
            cost, entry, source, known = _cached_block(index, block, program, plans, known, movable)
            total += cost
            if first is None:
                first = (entry, source)
        split = plans.get(tuple(sorted(block.variables)))
        blocks.append(CachedBlock(total, split, first[0], first[1]))
    return blocks, known


def plan_sweep(sampler: ir.Sampler, program: ir.Program) -> SweepPlan:
    # The steady state: a sweep entered with what the previous sweep left.
    _, known, source = _simulate(sampler, program, "none", None, True)
    fused, _, _ = _simulate(sampler, program, known, source, True)
    naive, _, _ = _simulate(sampler, program, "none", None, False)
    plans = plan_cache.plan_caches(program)
    _, left = _simulate_cached(sampler, program, plans, _Known())
    cached, _ = _simulate_cached(sampler, program, plans, left)
    total = Cost()
    for block in cached:
        total += block.cost
    return SweepPlan(
        sampler.name,
        tuple(fused),
        sum(p.passes for p in fused),
        sum(p.passes for p in naive),
        sum(p.forwards for p in fused),
        sum(p.forwards for p in naive),
        tuple(cached),
        total,
        plan_cache.energy_macs(program.energy),
    )


def plan_sweeps(program: ir.Program) -> tuple[SweepPlan, ...]:
    return tuple(plan_sweep(sampler, program) for sampler in program.samplers)
