"""Plan cached evaluation across sampler blocks: which subexpressions a block's moves leave alone.

In: the energy graph and the variables one block moves. Out: an `EnergySplit`. Its `roots` are
the maximal subexpressions that read none of the moving variables, plus, for an MLP whose input
`concat(...)` mixes held and moving parts, the held parts' `Share` of its first layer
(W[:, held columns] · held parts + bias). Everything else is the *head*: it reads only the roots
and the moving variables. A block whose moves change only the moving variables evaluates the
roots once at its entry point (dSprites: the CNN features h(x) and their share of the MLP's
first layer), scores every proposal with the head alone, and gets the gradients of the held
variables (for the next block) by one backward from the roots (docs/design/DESIGN.md section 4).

`macs` estimates multiply-accumulates per example, so the planner only splits where the roots
carry a real share of the work (`worth_caching`) and can state the cost of a sweep.
"""

from __future__ import annotations

import itertools
from dataclasses import dataclass

from ebmspec import ir
from ebmspec.semantic.registry import ENERGY_BLOCKS

# A split pays when the roots hold at least this share of the energy's multiply-adds and this
# many per example; below that (the toy MLP, whose only held input is a 2-d point) the Python
# work of a second evaluation path costs more than the arithmetic it saves.
WORTH = 0.25
MIN_ROOT_MACS = 50_000


@dataclass(frozen=True)
class Share:
    """The held inputs' share of the first layer of MLP `mlp`: W[:, columns] · concat(parts) + b.

    parts:   the held parts of the MLP's input concat, in order; columns: their input columns.
    free:    the other parts (they read moving variables), free_columns: theirs; the head adds
             W[:, free_columns] · concat(free) to the share and runs the MLP's remaining layers.
    """

    mlp: ir.Op
    parts: tuple[ir.ENode, ...]
    columns: tuple[int, ...]
    free: tuple[ir.ENode, ...]
    free_columns: tuple[int, ...]


@dataclass(frozen=True)
class EnergySplit:
    """The energy split for a block moving `moving` (sorted names).

    roots:        what is computed once per held values, in evaluation order (graph nodes whose
                  value the head reads, and `Share`s); `static_lets`: the let bindings that read
                  no moving variable (evaluated with the roots); `head_lets`: those the head
                  evaluates (they read a moving variable, or no variable at all: constants).
    root_macs, head_macs: estimated multiply-adds per example of the roots and of one head
                  evaluation.
    """

    moving: tuple[str, ...]
    roots: tuple[ir.ENode | Share, ...]
    static_lets: tuple[str, ...]
    head_lets: tuple[str, ...]
    root_macs: int
    head_macs: int

    @property
    def worth_caching(self) -> bool:
        total = self.root_macs + self.head_macs
        return self.root_macs >= max(MIN_ROOT_MACS, WORTH * total)

    def describe(self) -> list[str]:
        """One line per root, for dumps: what is cached."""
        lines = []
        for root in self.roots:
            if isinstance(root, Share):
                held = sum(part.shape[0] for part in root.parts)
                total = held + sum(part.shape[0] for part in root.free)
                lines.append(
                    f"share of `{root.mlp.module}`'s first layer over {held} of its {total} inputs"
                )
            else:
                lines.append(describe_node(root))
        return lines


def describe_node(node: ir.ENode) -> str:
    if isinstance(node, ir.Input):
        return f"`{node.variable}`"
    if isinstance(node, (ir.Ref, ir.Param)):
        return f"`{node.name}`"
    if isinstance(node, ir.Const):
        return repr(node.value)
    inner = ", ".join(describe_node(child) for child in node.inputs)
    return f"{node.op}({inner})"


def op_macs(node: ir.Op) -> int:
    """Multiply-adds per example of one block: its module's `macs` (`runtime.model.blocks`); blocks
    without one (elementwise, reshaping) and operators count 0."""
    row = ENERGY_BLOCKS.get(node.op)
    macs = row.extra["macs"] if row is not None else None
    return macs(node) if macs is not None else 0


def concat_parts(node: ir.Op) -> tuple[ir.ENode, ...]:
    """The vector parts of an MLP's input `concat(...)`, else () (nothing to fold)."""
    if node.op != "mlp" or node.module is None:
        return ()
    (inner,) = node.inputs
    if not isinstance(inner, ir.Op) or inner.op != "concat":
        return ()
    if any(len(part.shape) != 1 for part in inner.inputs):
        return ()
    return inner.inputs


class _Reads:
    """The variables each node reads (through let bindings)."""

    def __init__(self, energy: ir.Energy):
        self.lets: dict[str, frozenset] = {}
        for let in energy.lets:
            self.lets[let.name] = self(let.value)

    def __call__(self, node: ir.ENode) -> frozenset:
        if isinstance(node, ir.Input):
            return frozenset((node.variable,))
        if isinstance(node, ir.Ref):
            return self.lets[node.name]
        if isinstance(node, ir.Op):
            return frozenset().union(*(self(child) for child in node.inputs))
        return frozenset()


def _macs_below(node: ir.ENode, let_macs: dict) -> int:
    if isinstance(node, ir.Ref):
        return let_macs.get(node.name, 0)
    if not isinstance(node, ir.Op):
        return 0
    return op_macs(node) + sum(_macs_below(child, let_macs) for child in node.inputs)


def split_energy(energy: ir.Energy, moving, fold: bool = True) -> EnergySplit:
    """Split `energy` for moves of the variables `moving` (see the module docstring).

    With `fold`, an MLP on a concat of held and moving parts gets a `Share` root; without it the
    held parts are roots of their own and the whole MLP runs in the head (bit-identical to the
    unsplit energy, since the head then performs the very same operations)."""
    moving = frozenset(moving)
    reads = _Reads(energy)
    roots: list = []
    seen: set[int] = set()
    head_macs = 0
    static_lets = tuple(let.name for let in energy.lets if not reads.lets[let.name] & moving)
    # Static lets are computed with the roots; their work is root work (counted once, below).
    let_macs: dict[str, int] = {}
    for let in energy.lets:
        let_macs[let.name] = _macs_below(let.value, let_macs)
    root_macs = sum(let_macs[name] for name in static_lets)

    def held(node: ir.ENode) -> bool:
        return not isinstance(node, ir.Const) and not reads(node) & moving and bool(reads(node))

    def add_root(node) -> None:
        nonlocal root_macs
        if id(node) not in seen:
            seen.add(id(node))
            roots.append(node)
            if isinstance(node, Share):
                root_macs += sum(_macs_below(p, {}) for p in node.parts)
                root_macs += len(node.columns) * _first_width(node.mlp)
            elif not isinstance(node, ir.Ref):
                root_macs += _macs_below(node, {})

    def visit(node: ir.ENode) -> None:
        """`node` reads a moving variable (or is a constant): it runs in the head."""
        nonlocal head_macs
        if not isinstance(node, ir.Op):
            return
        parts = concat_parts(node) if fold else ()
        static = [held(part) for part in parts]
        if any(static):
            columns, free, free_columns, offset = [], [], [], 0
            for part, is_held in zip(parts, static, strict=True):
                span = range(offset, offset + part.shape[0])
                offset += part.shape[0]
                if is_held:
                    columns.extend(span)
                else:
                    free.append(part)
                    free_columns.extend(span)
            held_parts = tuple(p for p, s in zip(parts, static, strict=True) if s)
            add_root(Share(node, held_parts, tuple(columns), tuple(free), tuple(free_columns)))
            head_macs += op_macs(node) - len(columns) * _first_width(node)
            for part in free:
                visit_child(part)
            return
        head_macs += op_macs(node)
        for child in node.inputs:
            visit_child(child)

    def visit_child(node: ir.ENode) -> None:
        if held(node):
            add_root(node)
        else:
            visit(node)

    head_lets = tuple(
        let.name for let in energy.lets if let.name not in static_lets or not reads.lets[let.name]
    )
    for let in energy.lets:
        if let.name not in static_lets:
            visit(let.value)
    visit_child(energy.result)
    return EnergySplit(
        tuple(sorted(moving)), tuple(roots), static_lets, head_lets, root_macs, head_macs
    )


def _first_width(mlp: ir.Op) -> int:
    attrs = dict(mlp.attrs)
    return (list(attrs["hidden"]) + [attrs["out"] or 1])[0]


def energy_macs(energy: ir.Energy) -> int:
    """Estimated multiply-adds of one full evaluation per example."""
    return sum(_macs_below(let.value, {}) for let in energy.lets) + _macs_below(energy.result, {})


def block_split(energy: ir.Energy, variables, fold: bool = True) -> EnergySplit | None:
    """The split for a block moving `variables` when caching pays, else None."""
    split = split_energy(energy, variables, fold)
    return split if split.worth_caching else None


# A clamped variable leaves its block, so a block may move any subset of its variables: every
# subset is planned for blocks of up to this many variables, only the whole block for larger ones.
SUBSET_LIMIT = 3


def moving_sets(program: ir.Program) -> list[tuple[str, ...]]:
    """The sorted variable sets the program's sampler blocks can move."""
    found: list[tuple[str, ...]] = []
    for sampler in program.samplers:
        for block in sampler.blocks:
            names = sorted(block.variables)
            sizes = range(1, len(names) + 1) if len(names) <= SUBSET_LIMIT else (len(names),)
            for size in sizes:
                for subset in itertools.combinations(names, size):
                    if subset not in found:
                        found.append(subset)
    return found


def plan_caches(program: ir.Program) -> dict[tuple[str, ...], EnergySplit]:
    """Moving variables -> the split a block moving them uses, for every move of the program's
    samplers where caching pays (the in-process model and the emitted module both follow it)."""
    plans = {}
    for moving in moving_sets(program):
        split = block_split(program.energy, moving)
        if split is not None:
            plans[moving] = split
    return plans


__all__ = [
    "MIN_ROOT_MACS",
    "WORTH",
    "EnergySplit",
    "Share",
    "block_split",
    "moving_sets",
    "plan_caches",
    "concat_parts",
    "describe_node",
    "energy_macs",
    "op_macs",
    "split_energy",
]
