"""Discrete Metropolis-adjusted Langevin (Zhang, Liu & Liu 2022) for binary and categorical
variables: every site of the block moves in parallel, with one Metropolis-Hastings test.

In: a `Point` with f and gradients. Out: the point after one step. The proposal factorises over
sites: a site's new value v has log-weight (grad[v] - grad[current]) / 2 - |v - current|^2 / (2
step) (binary: the flip has (1 - 2x) * grad / 2 - 1 / (2 step), staying 0; categorical: a change
costs 1 / step). Small steps move few sites, large steps many. The MH ratio uses the reverse
proposal from the new point's gradients, which makes the chain exact whatever the step; the
exactness suite checks it on the Ising and Potts models. Clamped sites keep their values. On those
models (150 sweeps) steps 0.5-2 mix to the i.i.d. floor; 0.2 needs ~600 sweeps on Potts and 0.05
barely moves (a change then costs 20 nats), hence the default 1.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F

from ebmspec.runtime.sampling.kernels.base import (
    Kernel,
    KernelState,
    Point,
    Target,
    gumbel,
    metropolis_accept,
    record,
    select,
)
from ebmspec.runtime.sampling.kernels.draws import uniform
from ebmspec.semantic.registry.signatures import DISCRETE, Signature
from ebmspec.semantic.registry.signatures import Param as P

# `update VARS with dmala(...)`: the registry row the checker binds a spec's arguments to; the
# planner's traits (`reads`, `leaves`) come from the class below (`kernels.__init__`).
SIGNATURE = Signature(
    "dmala",
    (P("step", "posfloat", 1.0),),
    "discrete Metropolis-adjusted Langevin: every site moves in parallel from a gradient "
    "proposal (a change costs 1 / step), one Metropolis-Hastings test",
    domains=DISCRETE,
)

# --- begin standalone ---


class DMALA(Kernel):
    """Discrete MALA over the discrete variables `variables`; `step` is the proposal's step."""

    name = "dmala"
    reads = "grad"
    leaves = "full"

    def __init__(self, variables, table: dict, step: float = 1.0):
        super().__init__(variables, table)
        self.step_size = float(step)

    def _logits(self, name: str, x: torch.Tensor, grad: torch.Tensor, target: Target):
        """Per-site log-weights of the proposal: binary [B, *shape] (the flip against staying),
        categorical [B, *shape, K] (every value, the current one included)."""
        blocked = None if target.free[name] is None else target.mask(name, x) == 0
        if self.table[name].kind == "binary":
            logits = 0.5 * (1 - 2 * x) * grad - 0.5 / self.step_size
            return logits if blocked is None else logits.masked_fill(blocked, -torch.inf)
        change = 0.5 * (grad - (x * grad).sum(-1, keepdim=True)) - (1 - x) / self.step_size
        if blocked is not None:
            # A clamped site proposes its own value only.
            change = torch.where(blocked, torch.where(x > 0.5, 0.0, -torch.inf), change)
        return change

    def _log_q(self, name: str, logits: torch.Tensor, to: torch.Tensor) -> torch.Tensor:
        """[B] log-probability that the proposal with `logits` gives the values `to`."""
        batch = to.shape[0]
        if self.table[name].kind == "binary":
            stay_or_flip = torch.stack([F.logsigmoid(-logits), F.logsigmoid(logits)], -1)
            # `to` is given relative to the start: 1 where the site flips.
            chosen = stay_or_flip.gather(-1, to.long().unsqueeze(-1)).squeeze(-1)
            return chosen.reshape(batch, -1).sum(1)
        # gather, not log_p * to: a clamped site's other values have log-probability -inf
        chosen = logits.log_softmax(-1).gather(-1, to.argmax(-1, keepdim=True)).squeeze(-1)
        return chosen.reshape(batch, -1).sum(1)

    def step(self, point: Point, state: KernelState, target: Target, generator):
        point = target.with_grads(point, self.variables)
        values, forward, hops = dict(point.values), None, None
        moves = {}
        for name in self.variables:
            x, grad = point.values[name], point.grads[name]
            logits = self._logits(name, x, grad, target)
            if self.table[name].kind == "binary":
                u = uniform(x.shape, generator, x.device)
                flip = (u < torch.sigmoid(logits)).to(x.dtype)
                values[name] = x + flip * (1 - 2 * x)
                moves[name] = flip
                changed = flip.reshape(x.shape[0], -1).sum(1)
                log_q = self._log_q(name, logits, flip)
            else:
                noise = gumbel(logits.shape, generator, x.device)
                new = F.one_hot((logits + noise).argmax(-1), x.shape[-1]).to(x.dtype)
                values[name] = new
                changed = (new != x).any(-1).reshape(x.shape[0], -1).sum(1)
                log_q = self._log_q(name, logits, new)
            forward = log_q if forward is None else forward + log_q
            hops = changed if hops is None else hops + changed
        proposal = target.propose(point, values, self.variables)
        backward = None
        for name in self.variables:
            x_new, grad_new = proposal.values[name], proposal.grads[name]
            logits = self._logits(name, x_new, grad_new, target)
            back = moves[name] if self.table[name].kind == "binary" else point.values[name]
            log_q = self._log_q(name, logits, back)
            backward = log_q if backward is None else backward + log_q
        log_alpha = proposal.f - point.f + backward - forward
        accept = metropolis_accept(log_alpha, generator)
        return select(accept, proposal, point), record(state, accept, hops)
