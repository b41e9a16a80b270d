"""Unadjusted Langevin dynamics with the step and the noise set separately.

In: a `Point` (gradients reused when a previous block left them). Out: the point after
x <- x + step * grad f(x) + noise * N(0, I) on the free elements, clipped to the variable's box when
it has one. This is the update of every reference EBM code base (docs/design/ALGORITHMS.md 2.2);
with noise = sqrt(2 step) it is textbook Langevin. There is no accept step, so the chain is biased
by O(step): the exactness suite bounds the bias on a Gaussian where it is known in closed form.
"""

from __future__ import annotations

import math

import torch

from ebmspec.runtime.sampling.kernels.base import Kernel, KernelState, Point, Target, record
from ebmspec.runtime.sampling.kernels.draws import normal
from ebmspec.semantic.registry.signatures import CONTINUOUS, Signature
from ebmspec.semantic.registry.signatures import Param as P

# `update VARS with langevin(...)`: the registry row the checker binds a spec's arguments to; the
# planner's traits (`reads`, `leaves`) come from the class below (`kernels.__init__`).
SIGNATURE = Signature(
    "langevin",
    (P("step", "posfloat"), P("noise", "nonneg_float?", None)),
    "x <- x + step * grad f + noise * N(0, I); noise defaults to sqrt(2 step)",
    domains=CONTINUOUS,
)

# --- begin standalone ---


class Langevin(Kernel):
    """x <- x + step * grad + noise * xi; `noise=None` means sqrt(2 * step)."""

    name = "langevin"
    reads = "grad"
    leaves = "none"

    def __init__(self, variables, table: dict, step: float, noise: float | None = None):
        super().__init__(variables, table)
        self.step_size = float(step)
        self.noise = math.sqrt(2 * self.step_size) if noise is None else float(noise)

    def step(self, point: Point, state: KernelState, target: Target, generator):
        point = target.with_grads(point, self.variables)
        values = dict(point.values)
        moved = 0
        for name in self.variables:
            x = point.values[name]
            xi = normal(x.shape, generator, x.device)
            move = self.step_size * point.grads[name] + self.noise * xi
            if target.free[name] is not None:  # with nothing clamped the mask is all ones
                move = target.mask(name, x) * move
            new = x + move
            spec = self.table[name]
            low, high = spec.low, spec.high
            if low is not None:
                new = new.clamp(low, high)
            values[name] = new
            moved = moved + (new - x).pow_(2).reshape(x.shape[0], -1).sum(1)
        accept = torch.ones_like(point.f, dtype=torch.bool)
        return Point(values, None, None), record(state, accept, torch.sqrt(moved))
