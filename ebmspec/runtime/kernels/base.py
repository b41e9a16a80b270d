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

# --- begin standalone ---


class Point(NamedTuple):
    """A batch of chain states and what is known about the energy there.

    values: name -> tensor [B, *tensor_shape] (categoricals one-hot, binaries 0/1 floats).
    f:      energies f(values) of shape [B], or None when not evaluated at these values.
    grads:  name -> df/dvalue for every free variable, or None when not evaluated. They make
            fusion possible: one evaluation serves every later block until the state moves.
    """

    values: dict
    f: torch.Tensor | None
    grads: dict | None


class KernelState(NamedTuple):
    """Per-block diagnostics, kept on the chains' device (reading them is the caller's choice).

    steps:    number of `step` calls so far (a Python int; it never depends on tensor values).
    accepted: [B] accepted proposals per chain (Gibbs and unadjusted Langevin always accept).
    hops:     [B] distance moved per chain, summed over steps: sites changed for discrete
              variables, Euclidean distance for real ones.
    """

    steps: int
    accepted: torch.Tensor
    hops: torch.Tensor


class Kernel:
    """The protocol every kernel follows, and what each one keeps.

    variables: the names this block updates (wholly clamped ones already removed).
    table:     the variable table, name -> (kind, shape, categories, low, high).
    reads:     what `step` needs known at its entry point: "grad" (f and gradients), "f", "none".
    leaves:    what is known at the point it returns: "full", "f" or "none". Both are mirrored
               in the registry for the sweep planner (a test keeps them equal).
    """

    name = ""
    reads = "none"
    leaves = "none"

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
    are clamped entirely: no gradient is taken for them and no block updates them. `passes` and
    `forwards` count energy evaluations with and without a backward pass (for the fusion tests).
    """

    def __init__(self, energy, variables: dict, free: dict | None = None, fixed=()):
        self.energy = energy
        self.variables = variables
        self.fixed = frozenset(fixed)
        self.free = {name: None for name in variables}
        self.free.update(free or {})
        self.movable = tuple(name for name in variables if name not in self.fixed)
        self.passes = 0
        self.forwards = 0

    def evaluate(self, values: dict, names=None) -> Point:
        """f and its gradients with respect to `names` (default: every movable variable)."""
        names = self.movable if names is None else names
        with torch.enable_grad():
            leaves = {n: values[n].detach().requires_grad_(True) for n in names}
            f = self.energy({**values, **leaves})
            grads = torch.autograd.grad(f.sum(), [leaves[n] for n in names])
        self.passes += 1
        return Point(values, f.detach(), dict(zip(names, grads, strict=True)))

    def energy_only(self, values: dict) -> torch.Tensor:
        with torch.no_grad():
            f = self.energy(values)
        self.forwards += 1
        return f

    def with_grads(self, point: Point, names) -> Point:
        """`point` with f and the gradients of `names`, evaluating only if they are unknown."""
        if point.grads is not None and all(n in point.grads for n in names):
            return point
        return self.evaluate(point.values)

    def with_energy(self, point: Point) -> Point:
        if point.f is not None:
            return point
        return Point(point.values, self.energy_only(point.values), None)

    def mask(self, name: str, like: torch.Tensor) -> torch.Tensor:
        """The free-element mask of `name` as a float tensor broadcastable to `like`."""
        free = self.free[name]
        if free is None:
            return torch.ones((), dtype=like.dtype, device=like.device)
        extra = like.dim() - free.dim()
        return free.reshape(free.shape + (1,) * extra).to(like.dtype)


def select(accept: torch.Tensor, new: Point, old: Point) -> Point:
    """Rows of `new` where `accept` holds, rows of `old` elsewhere. The energy and gradients carry
    over when both points know them, so the next block can reuse them without evaluating."""

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
    return Point(values, f, grads)


def gumbel(shape, generator: torch.Generator, device) -> torch.Tensor:
    """Standard Gumbel noise: argmax(logits + gumbel) is a draw from softmax(logits)."""
    uniform = torch.rand(shape, generator=generator, device=device).clamp_min(1e-20)
    return -torch.log(-torch.log(uniform))


def metropolis_accept(log_alpha: torch.Tensor, generator: torch.Generator) -> torch.Tensor:
    """accept with probability min(1, exp(log_alpha)); NaN (an invalid proposal) rejects."""
    u = torch.rand(log_alpha.shape, generator=generator, device=log_alpha.device)
    return torch.log(u) < torch.nan_to_num(log_alpha, nan=-torch.inf)


def record(state: KernelState, accept: torch.Tensor, hops: torch.Tensor) -> KernelState:
    accept = accept.to(state.accepted.dtype)
    return KernelState(state.steps + 1, state.accepted + accept, state.hops + hops * accept)


def within_bounds(values: dict, names, variables: dict) -> torch.Tensor:
    """[B] True where every bounded real variable among `names` lies inside its box."""
    inside = None
    for name in names:
        _, _, _, low, high = variables[name]
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
