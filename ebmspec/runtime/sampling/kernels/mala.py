"""Metropolis-adjusted Langevin (MALA) on the real variables of a block.

In: a `Point` with f and gradients. Out: the point after one MH step with the Langevin proposal
x' = x + step * grad f(x) + sqrt(2 step) * N(0, I) over the free elements of every variable of the
block jointly. A proposal outside a variable's box is rejected (exact for the truncated target).
The accepted point keeps f and gradients, so the next block needs no new evaluation.
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

# `update VARS with mala(...)`: the registry row the checker binds a spec's arguments to; the
# planner's traits (`reads`, `leaves`) come from the class below (`kernels.__init__`).
SIGNATURE = Signature(
    "mala",
    (P("step", "posfloat"), P("adapt", "nonneg_int", 0), P("target", "prob", 0.574)),
    "Metropolis-adjusted Langevin with drift step and noise sqrt(2 step); `adapt = n`: the "
    "step is tuned by dual averaging towards acceptance `target` over the block's first n "
    "transitions, then frozen (set n within the warm-up you discard)",
    domains=CONTINUOUS,
)

# --- begin standalone ---


class MALA(Kernel):
    """MALA with drift `step` and noise sqrt(2 step). `adapt = n`: the step is tuned by dual
    averaging towards the acceptance rate `target` over the block's first n transitions, then
    frozen at its running average (`base.tuning_update`)."""

    name = "mala"
    reads = "grad"
    leaves = "full"

    def __init__(self, variables, table: dict, step: float, adapt: int = 0, target=0.574):
        super().__init__(variables, table)
        self.step_size = float(step)
        self.adapt = int(adapt)
        self.target_rate = float(target)

    def init(self, point: Point) -> KernelState:
        return tuning_start(super().init(point), point, self.step_size, self.adapt)

    def _drift(self, point: Point, target: Target, eps) -> dict:
        return {n: target.mask(n, point.grads[n]) * eps * point.grads[n] for n in self.variables}

    def step(self, point: Point, state: KernelState, target: Target, generator):
        point = target.with_grads(point, self.variables)
        eps = tuned_step(state, self.step_size, self.adapt)
        noise = (2 * eps) ** 0.5
        drift = self._drift(point, target, eps)
        values = dict(point.values)
        for name in self.variables:
            x = point.values[name]
            xi = normal(x.shape, generator, x.device)
            values[name] = x + drift[name] + noise * target.mask(name, x) * xi
        proposal = target.evaluate(values)
        back = self._drift(proposal, target, eps)
        forward_gap = [values[n] - point.values[n] - drift[n] for n in self.variables]
        backward_gap = [point.values[n] - values[n] - back[n] for n in self.variables]
        log_alpha = (
            proposal.f
            - point.f
            + (squared_norm(forward_gap) - squared_norm(backward_gap)) / (4 * eps)
        )
        inside = within_bounds(values, self.variables, self.table)
        log_alpha = log_alpha.masked_fill(~inside, -torch.inf)
        accept = metropolis_accept(log_alpha, generator)
        moved = torch.sqrt(squared_norm([values[n] - point.values[n] for n in self.variables]))
        state = tuning_update(record(state, accept, moved), log_alpha, self.adapt, self.target_rate)
        return select(accept, proposal, point), state
