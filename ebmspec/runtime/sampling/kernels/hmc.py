"""Hamiltonian Monte Carlo on the real variables of a block.

In: a `Point` with f and gradients. Out: the point after `leapfrog` leapfrog steps of size `step`
from a fresh N(0, I) momentum (zero on clamped elements) and one MH test on the Hamiltonian
H = -f + |p|^2 / 2. An end point outside a variable's box is rejected. Costs `leapfrog` gradient
evaluations; the accepted point keeps f and gradients for the next block.
"""

from __future__ import annotations

import torch

from ebmspec.runtime.sampling.kernels.base import (
    Kernel,
    KernelState,
    Point,
    Target,
    metropolis_accept,
    record,
    select,
    squared_norm,
    within_bounds,
)
from ebmspec.runtime.sampling.kernels.draws import normal
from ebmspec.runtime.sampling.kernels.tuning import tuned_step, tuning_start, tuning_update
from ebmspec.semantic.registry.signatures import CONTINUOUS, Signature
from ebmspec.semantic.registry.signatures import Param as P

# `update VARS with hmc(...)`: the registry row the checker binds a spec's arguments to; the
# planner's traits (`reads`, `leaves`) come from the class below (`kernels.__init__`).
SIGNATURE = Signature(
    "hmc",
    (
        P("step", "posfloat"),
        P("leapfrog", "posint", 10),
        P("adapt", "nonneg_int", 0),
        P("target", "prob", 0.65),
    ),
    "Hamiltonian Monte Carlo with `leapfrog` steps of size `step`; `adapt = n`: the step is "
    "tuned by dual averaging towards acceptance `target` over the first n transitions, then "
    "frozen",
    domains=CONTINUOUS,
)

# --- begin standalone ---


class HMC(Kernel):
    """HMC with identity mass matrix. `adapt = n`: the step is tuned by dual averaging towards
    the acceptance rate `target` over the block's first n transitions, then frozen."""

    name = "hmc"
    reads = "grad"
    leaves = "full"

    def __init__(
        self, variables, table: dict, step: float, leapfrog: int = 10, adapt: int = 0, target=0.65
    ):
        super().__init__(variables, table)
        self.step_size = float(step)
        self.leapfrog = int(leapfrog)
        self.adapt = int(adapt)
        self.target_rate = float(target)

    def init(self, point: Point) -> KernelState:
        return tuning_start(super().init(point), point, self.step_size, self.adapt)

    def step(self, point: Point, state: KernelState, target: Target, generator):
        point = target.with_grads(point, self.variables)
        eps = tuned_step(state, self.step_size, self.adapt)
        mask = {n: target.mask(n, point.values[n]) for n in self.variables}
        momentum = {
            n: mask[n] * normal(point.values[n].shape, generator, mask[n].device)
            for n in self.variables
        }
        start_kinetic = 0.5 * squared_norm(momentum.values())
        p = {n: momentum[n] + 0.5 * eps * mask[n] * point.grads[n] for n in self.variables}
        current = point
        for index in range(self.leapfrog):
            values = dict(current.values)
            for n in self.variables:
                values[n] = current.values[n] + eps * p[n]
            last = index == self.leapfrog - 1
            # Inner positions need only this block's gradients; the end point gets all of them.
            current = target.evaluate(values, None if last else self.variables)
            scale = 0.5 * eps if last else eps
            p = {n: p[n] + scale * mask[n] * current.grads[n] for n in self.variables}
        log_alpha = current.f - point.f + start_kinetic - 0.5 * squared_norm(p.values())
        inside = within_bounds(current.values, self.variables, self.table)
        log_alpha = log_alpha.masked_fill(~inside, -torch.inf)
        accept = metropolis_accept(log_alpha, generator)
        moved = torch.sqrt(
            squared_norm([current.values[n] - point.values[n] for n in self.variables])
        )
        state = tuning_update(record(state, accept, moved), log_alpha, self.adapt, self.target_rate)
        return select(accept, current, point), state
