"""The kernel protocol: chain points, diagnostics state, the conditioned target, helpers.

In: batched variable values (`{name: [B, *tensor_shape]}`, categoricals one-hot, binaries 0/1) and
an energy module f. Out: `Point`s (values plus whatever is known about f there) that kernels pass
along. Every kernel has the same two methods:

    state = kernel.init(point)                                    -> KernelState (diagnostics)
    point, state = kernel.step(point, state, target, generator)  -> one MH / Gibbs update

A kernel updates only its own variables (minus the clamped elements `target.free` masks out) and
draws every random number from the explicit `torch.Generator`. Torch-only: the body below the
marker is copied verbatim into modules emitted by `ebmspec compile`.
"""

from __future__ import annotations

from typing import NamedTuple

import torch

from ebmspec.runtime.sampling.kernels.draws import uniform

# --- begin standalone ---


class Point(NamedTuple):
    """A batch of chain states and what is known about the energy there.

    values: name -> tensor [B, *tensor_shape] (categoricals one-hot, binaries 0/1 floats).
    f:      energies f(values) of shape [B], or None when not evaluated at these values.
    grads:  name -> df/dvalue for the variables whose gradient is known, or None when not
            evaluated. They make fusion possible: one evaluation serves every later block until
            the state moves.
    memo:   the `Memo` of a block that caches the energy's static part at these values (None
            when none is kept); while only its moving variables change it stays valid.
    """

    values: dict
    f: torch.Tensor | None
    grads: dict | None
    memo: Memo | None = None


class Memo(NamedTuple):
    """The static part of the energy at one point, kept for moves of `moving` only.

    A block whose moves change only `moving` (labels, say) evaluates the energy's *roots* - the
    subexpressions that read none of them, such as dSprites' CNN features h(x) and their share
    of the first MLP layer (passes/plan_cache.py) - once, and every proposal by the *head*. The
    gradients of the other (held) variables then cost one backward from the roots.

    moving:   the variables the block moves (a sorted tuple).
    split:    the energy's split for them: `statics(values)` -> roots, `head(statics, values)`.
    roots:    the root values with their autograd graph back to `leaves`.
    statics:  the same values detached (requiring grad when there are leaves): the head's inputs,
              where its backward stops.
    leaves:   held variables free to move -> the leaf tensors the roots were computed from.
    dstatics: df/dstatics at the point's values (from a head evaluation with gradients), or None.
    pullback: a traceable evaluation's (runtime/sampling/capture.py) stand-in for the roots'
              graph: the vector-Jacobian product of `torch.func.vjp`, dstatics -> the leaves'
              gradients.
    """

    moving: tuple
    split: object
    roots: tuple
    statics: tuple
    leaves: dict
    dstatics: tuple | None
    pullback: object = None


class KernelState(NamedTuple):
    """Per-block diagnostics, kept on the chains' device (reading them is the caller's choice).

    steps:    number of `step` calls so far (a Python int; it never depends on tensor values).
    accepted: [B] accepted proposals per chain (Gibbs and unadjusted Langevin always accept).
    hops:     [B] distance moved per chain, summed over steps: sites changed for discrete
              variables, Euclidean distance for real ones.
    tune:     a step-adapting kernel's dual-averaging state (`StepTuning`), else None.
    """

    steps: int
    accepted: torch.Tensor
    hops: torch.Tensor
    tune: object = None


class Kernel:
    """The protocol every kernel follows, and what each one keeps.

    variables: the names this block updates (wholly clamped ones already removed).
    table:     the variable table, name -> `layers.Var` (kind, shape, categories, low, high).
    reads:     what `step` needs known at its entry point: "grad" (f and gradients), "f", "none".
    leaves:    what is known at the point it returns: "full", "f" or "none". Both are mirrored
               in the registry for the sweep planner (a test keeps them equal).
    enumerates: when `step` lists every joint value of the block's discrete variables: "always",
               the name of the bool argument that turns it on, or None. Mirrored in the registry
               too, so the checker refuses a block with more than `MAX_ENUMERABLE` values (E409).
    """

    name = ""
    reads = "none"
    leaves = "none"
    enumerates: str | None = None

    def __init__(self, variables, table: dict):
        self.variables = tuple(variables)
        self.table = table

    def init(self, point: Point) -> KernelState:
        """Zero diagnostics for the chains of `point`."""
        reference = next(iter(point.values.values()))
        zeros = torch.zeros(reference.shape[0], device=reference.device)
        return KernelState(0, zeros, zeros.clone())

    def step(self, point: Point, state: KernelState, target, generator):
        """One update of `variables`: returns the new point and the updated diagnostics."""
        raise NotImplementedError


class Target:
    """The energy f together with the conditioning of one sampling run.

    `free` maps each variable to a bool mask of its movable elements, shaped like the value
    without the one-hot axis ([B, *shape]), or to None when all of it may move. Variables in `fixed`
    are clamped entirely: no gradient is taken for them and no block updates them. `stats`: the
    data statistics of a training run (`{name: {key: tensor}}`, empty without one), which a
    kernel may read (`jump`'s mean position per label value). With `cache`,
    a block whose moves the energy can split (`energy.split(names)`, see `Memo`) evaluates the
    static part once and its proposals by the head; without it every evaluation is a full one.

    Counters (for the planner's tests): `passes` / `forwards` full evaluations with and without
    a backward pass; `head_passes` / `head_forwards` head evaluations (a batched enumeration
    counts once); `root_forwards` / `root_backwards` evaluations of the static part and
    backward passes from it.
    """

    counting = True

    def __init__(
        self, energy, variables: dict, free: dict | None = None, fixed=(), cache=True, stats=None
    ):
        self.energy = energy
        self.stats = stats or {}
        self.variables = variables
        self.fixed = frozenset(fixed)
        self.free = {name: None for name in variables}
        self.free.update(free or {})
        self.movable = tuple(name for name in variables if name not in self.fixed)
        self.cache = cache
        self.splits: dict = {}
        self.passes = 0
        self.forwards = 0
        self.head_passes = 0
        self.head_forwards = 0
        self.root_forwards = 0
        self.root_backwards = 0

    def evaluate(self, values: dict, names=None) -> Point:
        """f and its gradients with respect to `names` (default: every movable variable)."""
        names = self.movable if names is None else names
        with torch.enable_grad():
            leaves = {n: values[n].detach().requires_grad_(True) for n in names}
            f = self.energy({**values, **leaves})
            # A variable f does not read (or reads through a lookup only) has gradient 0; when f
            # reads none of them and its weights are frozen (the EMA copy), f has no graph at all.
            grads = (
                torch.autograd.grad(f.sum(), [leaves[n] for n in names], allow_unused=True)
                if f.requires_grad
                else [None] * len(names)
            )
        grads = [
            torch.zeros_like(leaves[n]) if g is None else g
            for n, g in zip(names, grads, strict=True)
        ]
        self._count("passes")
        return Point(values, f.detach(), dict(zip(names, grads, strict=True)))

    def energy_only(self, values: dict) -> torch.Tensor:
        with torch.no_grad():
            f = self.energy(values)
        self._count("forwards")
        return f

    def _count(self, counter: str) -> None:
        if self.counting:  # a traced target (runtime/sampling/capture.py) keeps no counts
            setattr(self, counter, getattr(self, counter) + 1)

    # ---- cached evaluation (Memo) ----------------------------------------------------------
    def split(self, names):
        """The energy's split for moves of `names` (asked once per run), or None."""
        key = tuple(sorted(names))
        if key not in self.splits:
            method = getattr(self.energy, "split", None) if self.cache else None
            self.splits[key] = method(key) if method is not None else None
        return self.splits[key]

    def memo(self, point: Point, names) -> Memo | None:
        """`point`'s memo for moves of `names`, evaluating the static part if it has none (None
        when the energy does not split for them)."""
        split = self.split(names)
        if split is None:
            return None
        key = tuple(sorted(names))
        if point.memo is not None and point.memo.moving == key:
            return point.memo
        return self._roots(point, key, split)

    def _roots(self, point: Point, key: tuple, split) -> Memo:
        """A new memo at `point` for moves of `key`: the static part evaluated, with its graph
        back to the held variables."""
        held = [n for n in self.movable if n not in key]
        grad = len(held) > 0  # the held variables' gradients come by a backward from the roots
        with torch.set_grad_enabled(grad):
            leaves = {n: point.values[n].detach().requires_grad_(True) for n in held}
            roots = split.statics({**point.values, **leaves})
        statics = tuple(root.detach().requires_grad_(grad) for root in roots)
        self._count("root_forwards")
        return Memo(key, split, roots, statics, leaves, None)

    def head(self, memo: Memo, values: dict) -> Point:
        """f at `values` (which differ from the memo's point in `memo.moving` only) by the head,
        with the gradients of the moving variables and df/dstatics."""
        with torch.enable_grad():
            leaves = {n: values[n].detach().requires_grad_(True) for n in memo.moving}
            f = memo.split.head(memo.statics, {**values, **leaves})
            wanted = [leaves[n] for n in memo.moving]
            if memo.leaves:
                wanted += list(memo.statics)
            grads = torch.autograd.grad(f.sum(), wanted, allow_unused=True)
        grads = [
            torch.zeros_like(w) if g is None else g for w, g in zip(wanted, grads, strict=True)
        ]
        count = len(memo.moving)
        dstatics = tuple(grads[count:]) if memo.leaves else None
        self._count("head_passes")
        return Point(
            values,
            f.detach(),
            dict(zip(memo.moving, grads[:count], strict=True)),
            memo._replace(dstatics=dstatics),
        )

    def head_energies(self, memo: Memo, values: dict) -> torch.Tensor:
        """f by the head, no gradients; `values` may hold n copies of the chains (copy-major,
        row c * B + b is chain b), as Gibbs enumerations stack them."""
        rows = next(iter(values.values())).shape[0]
        statics = memo.statics
        times = rows // statics[0].shape[0] if statics else 1
        if times > 1:
            statics = tuple(s.repeat(times, *([1] * (s.dim() - 1))) for s in statics)
        with torch.no_grad():
            f = memo.split.head(statics, values)
        self._count("head_forwards")
        return f

    def _backward_roots(self, point: Point) -> Point:
        """The gradients of the memo's held variables: one backward from the roots."""
        if point.memo.dstatics is None:
            point = self.head(point.memo, point.values)
        memo = point.memo
        pairs = [(r, d) for r, d in zip(memo.roots, memo.dstatics, strict=True) if r.requires_grad]
        names = list(memo.leaves)
        grads = torch.autograd.grad(
            [r for r, _ in pairs],
            [memo.leaves[n] for n in names],
            grad_outputs=[d for _, d in pairs],
            retain_graph=True,  # cheap to keep: the memo is dropped once a held variable moves
            allow_unused=True,
        )
        found = {
            n: torch.zeros_like(memo.leaves[n]) if g is None else g
            for n, g in zip(names, grads, strict=True)
        }
        self._count("root_backwards")
        return Point(point.values, point.f, {**(point.grads or {}), **found}, memo)

    # ---- what kernels ask for ------------------------------------------------------------
    def with_grads(self, point: Point, names) -> Point:
        """`point` with f and the gradients of `names`, evaluating only what is unknown: by the
        head when the block's moves split the energy, by one backward from the roots when a
        memo holds `names`, else in full."""
        if point.grads is not None and point.f is not None and all(n in point.grads for n in names):
            return point
        memo = self.memo(point, names)
        if memo is not None:
            return self.head(memo, point.values)
        memo = point.memo
        if memo is not None and memo.leaves and all(n in memo.leaves for n in names):
            return self._backward_roots(point)
        return self.evaluate(point.values)

    def propose(self, point: Point, values: dict, names) -> Point:
        """f and gradients at `values`, which differ from `point`'s in the variables `names`
        only: by the head when `point`'s memo moves them, else in full."""
        memo = point.memo
        if memo is not None and all(n in memo.moving for n in names):
            return self.head(memo, values)
        return self.evaluate(values)

    def with_energy(self, point: Point, names=None) -> Point:
        """`point` with f known (by the head when a block moving `names` caches)."""
        if point.f is not None:
            return point
        memo = self.memo(point, names) if names is not None else None
        if memo is not None:
            return Point(point.values, self.head_energies(memo, point.values), None, memo)
        return Point(point.values, self.energy_only(point.values), None)

    def mask(self, name: str, like: torch.Tensor) -> torch.Tensor:
        """The free-element mask of `name` as a float tensor broadcastable to `like`."""
        free = self.free[name]
        if free is None:
            return torch.ones((), dtype=like.dtype, device=like.device)
        extra = like.dim() - free.dim()
        return free.reshape(free.shape + (1,) * extra).to(like.dtype)


def select(accept: torch.Tensor, new: Point, old: Point) -> Point:
    """Rows of `new` where `accept` holds, rows of `old` elsewhere. The energy, gradients and
    the memo's df/dstatics carry over when both points know them, so the next block can reuse
    them without evaluating."""

    def pick(a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
        if a is b:  # a variable the kernel did not move
            return a
        return torch.where(accept.reshape(accept.shape + (1,) * (a.dim() - 1)), a, b)

    values = {
        n: pick(new.values[n], old.values[n]) if n in new.values else v
        for n, v in old.values.items()
    }
    f = pick(new.f, old.f) if new.f is not None and old.f is not None else None
    grads = None
    if new.grads is not None and old.grads is not None:
        shared = [n for n in old.grads if n in new.grads]
        grads = {n: pick(new.grads[n], old.grads[n]) for n in shared}
    memo = None
    # Both points share the static part only when they share the memo's roots.
    if new.memo is not None and old.memo is not None and new.memo.roots is old.memo.roots:
        dstatics = None
        if new.memo.dstatics is not None and old.memo.dstatics is not None:
            pairs = zip(new.memo.dstatics, old.memo.dstatics, strict=True)
            dstatics = tuple(pick(a, b) for a, b in pairs)
        memo = old.memo._replace(dstatics=dstatics)
    return Point(values, f, grads, memo)


def gumbel(shape, generator, device) -> torch.Tensor:
    """Standard Gumbel noise: argmax(logits + gumbel) is a draw from softmax(logits)."""
    u = uniform(shape, generator, device).clamp_min(1e-20)
    return -torch.log(-torch.log(u))


def metropolis_accept(log_alpha: torch.Tensor, generator) -> torch.Tensor:
    """accept with probability min(1, exp(log_alpha)); NaN (an invalid proposal) rejects."""
    u = uniform(log_alpha.shape, generator, log_alpha.device)
    return torch.log(u) < torch.nan_to_num(log_alpha, nan=-torch.inf)


def record(state: KernelState, accept: torch.Tensor, hops: torch.Tensor) -> KernelState:
    accept = accept.to(state.accepted.dtype)
    return state._replace(
        steps=state.steps + 1, accepted=state.accepted + accept, hops=state.hops + hops * accept
    )


def within_bounds(values: dict, names, variables: dict) -> torch.Tensor:
    """[B] True where every bounded real variable among `names` lies inside its box."""
    inside = None
    for name in names:
        spec = variables[name]
        low, high = spec.low, spec.high
        if low is None:
            continue
        x = values[name].reshape(values[name].shape[0], -1)
        ok = ((x >= low) & (x <= high)).all(1)
        inside = ok if inside is None else inside & ok
    if inside is None:
        reference = values[names[0]]
        return torch.ones(reference.shape[0], dtype=torch.bool, device=reference.device)
    return inside


def squared_norm(tensors) -> torch.Tensor:
    return sum(t.pow(2).reshape(t.shape[0], -1).sum(1) for t in tensors)
