"""Metropolis-adjusted Langevin (MALA) on the real variables of a block.

In: a `Point` with f and gradients. Out: the point after one MH step with the Langevin proposal
x' = x + step * grad f(x) + sqrt(2 step) * N(0, I) over the free elements of every variable of the
block jointly. A proposal outside a variable's box is rejected (exact for the truncated target).
The accepted point keeps f and gradients, so the next block needs no new evaluation.
"""

from __future__ import annotations

import math

import torch

from ebmspec.runtime.kernels.base import (
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

# --- begin standalone ---


class MALA(Kernel):
    """MALA with drift `step` and noise sqrt(2 step)."""

    name = "mala"
    reads = "grad"
    leaves = "full"

    def __init__(self, variables, table: dict, step: float):
        super().__init__(variables, table)
        self.step_size = float(step)

    def _drift(self, point: Point, target: Target) -> dict:
        return {
            n: target.mask(n, point.grads[n]) * self.step_size * point.grads[n]
            for n in self.variables
        }

    def step(self, point: Point, state: KernelState, target: Target, generator):
        point = target.with_grads(point, self.variables)
        noise = math.sqrt(2 * self.step_size)
        drift = self._drift(point, target)
        values = dict(point.values)
        for name in self.variables:
            x = point.values[name]
            xi = torch.randn(x.shape, generator=generator, device=x.device)
            values[name] = x + drift[name] + noise * target.mask(name, x) * xi
        proposal = target.evaluate(values)
        back = self._drift(proposal, target)
        forward_gap = [values[n] - point.values[n] - drift[n] for n in self.variables]
        backward_gap = [point.values[n] - values[n] - back[n] for n in self.variables]
        log_alpha = (
            proposal.f
            - point.f
            + (squared_norm(forward_gap) - squared_norm(backward_gap)) / (4 * self.step_size)
        )
        inside = within_bounds(values, self.variables, self.table)
        log_alpha = log_alpha.masked_fill(~inside, -torch.inf)
        accept = metropolis_accept(log_alpha, generator)
        moved = torch.sqrt(squared_norm([values[n] - point.values[n] for n in self.variables]))
        return select(accept, proposal, point), record(state, accept, moved)
