"""The Barker proposal (Livingstone & Zanella 2022) on the real variables of a block.

In: a `Point` with f and gradients. Out: the point after one Metropolis-Hastings step. Each free
element draws a size z ~ N(0, scale^2) and keeps its sign with probability
1 / (1 + exp(-z * df/dx)) (the gradient's direction favoured), else flips it: x' = x + w. With
w = x' - x the proposal ratio is prod (1 + exp(-w g(x))) / (1 + exp(w g(x'))), so

    log alpha = f(x') - f(x) + sum softplus(-w g(x)) - softplus(w g(x')).

Why beside MALA: its moves are bounded by the size draw, not by the gradient, so a too large
`scale` or a steep gradient slows it down instead of throwing chains out (MALA's drift
step * grad f can), at a similar cost (one evaluation with gradients per step). A proposal
outside a variable's box is rejected (exact for the truncated target); the accepted point keeps f
and gradients, so the next block needs no new evaluation.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F

from ebmspec.runtime.sampling.kernels.base import (
    Kernel,
    Point,
    Target,
    metropolis_accept,
    record,
    select,
    squared_norm,
    within_bounds,
)
from ebmspec.runtime.sampling.kernels.draws import normal, uniform
from ebmspec.semantic.registry.signatures import CONTINUOUS, Signature
from ebmspec.semantic.registry.signatures import Param as P

# `update VARS with barker(...)`: the registry row the checker binds a spec's arguments to; the
# planner's traits (`reads`, `leaves`) come from the class below (`kernels.__init__`).
SIGNATURE = Signature(
    "barker",
    (P("scale", "posfloat"),),
    "Barker proposal (Livingstone & Zanella 2022): a N(0, scale^2) move per element whose sign "
    "favours the gradient, one Metropolis-Hastings test; robust to a too large `scale` where "
    "MALA's drift overshoots",
    domains=CONTINUOUS,
)

# --- begin standalone ---


class Barker(Kernel):
    """Barker's gradient-skewed proposal with size scale * N(0, 1) per element, then MH."""

    name = "barker"
    reads = "grad"
    leaves = "full"

    def __init__(self, variables, table: dict, scale: float):
        super().__init__(variables, table)
        self.scale = float(scale)

    def step(self, point: Point, state, target: Target, generator):
        point = target.with_grads(point, self.variables)
        values = dict(point.values)
        moves = {}
        for name in self.variables:
            x, g = point.values[name], point.grads[name]
            size = normal(x.shape, generator, x.device)
            z = self.scale * target.mask(name, x) * size
            u = uniform(x.shape, generator, x.device)
            moves[name] = torch.where(u < torch.sigmoid(z * g), z, -z)
            values[name] = x + moves[name]
        proposal = target.evaluate(values)
        log_alpha = proposal.f - point.f
        for name in self.variables:
            w = moves[name]
            ratio = F.softplus(-w * point.grads[name]) - F.softplus(w * proposal.grads[name])
            log_alpha = log_alpha + ratio.reshape(w.shape[0], -1).sum(1)
        inside = within_bounds(values, self.variables, self.table)
        log_alpha = log_alpha.masked_fill(~inside, -torch.inf)
        accept = metropolis_accept(log_alpha, generator)
        moved = torch.sqrt(squared_norm(list(moves.values())))
        return select(accept, proposal, point), record(state, accept, moved)
