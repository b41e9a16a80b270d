"""Gibbs-With-Gradients (Grathwohl et al. 2021) for binary and categorical variables.

In: a `Point` with f and gradients (reused when the previous block left them; when the energy
splits for this block's moves, its static part is evaluated once and both f evaluations are the
head's, see `Memo`). Out: the point after
one Metropolis-Hastings step whose proposal flips `flips` sites chosen from
q(i | x) = softmax(d(x) / T), where d(x) estimates f(x with site i changed) - f(x) to first order
(binary: (1 - 2x) * grad; categorical: grad[k] - grad[current]). All the block's variables share one
softmax. The reverse term log q(i | x') is evaluated at the proposal: leaving it out biases the
chain (docs/design/ALGORITHMS.md 1.6), and the exactness suite checks that it does.
"""

from __future__ import annotations

import torch

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
from ebmspec.semantic.registry.signatures import DISCRETE, Signature
from ebmspec.semantic.registry.signatures import Param as P

# `update VARS with gwg(...)`: the registry row the checker binds a spec's arguments to; the
# planner's traits (`reads`, `leaves`) come from the class below (`kernels.__init__`).
SIGNATURE = Signature(
    "gwg",
    (P("temperature", "posfloat", 2.0), P("flips", "posint", 1)),
    "Gibbs-With-Gradients (locally balanced proposal, reverse term included)",
    domains=DISCRETE,
)

# --- begin standalone ---


class GWG(Kernel):
    """Gibbs-With-Gradients over the discrete variables `variables`.

    temperature: T of the proposal softmax (2 = the locally balanced choice of the paper).
    flips:       sites drawn i.i.d. with replacement from q(. | x) per step. Binary: their union
                 flips; categorical: a proposal that gives one site two different values is
                 rejected, which keeps the move an involution (so the MH ratio stays exact).
    """

    name = "gwg"
    reads = "grad"
    leaves = "full"

    def __init__(self, variables, table: dict, temperature: float = 2.0, flips: int = 1):
        super().__init__(variables, table)
        self.temperature = float(temperature)
        self.flips = int(flips)

    def _log_proposal(self, point: Point, target: Target, undo: bool = True):
        """log q(. | x) over all sites and values of the block, flattened to [B, N], and (with
        `undo`) for every entry the index of the move that undoes it (to read the reverse
        probability; the reverse proposal itself needs no such table)."""
        scores, backs = [], []
        offset = 0
        for name in self.variables:
            x, grad = point.values[name], point.grads[name]
            spec = self.table[name]
            kind, categories = spec.kind, spec.categories
            batch = x.shape[0]
            # Clamped elements cannot move; with nothing clamped there is nothing to mask.
            blocked = None if target.free[name] is None else target.mask(name, x) == 0
            if kind == "binary":
                delta = (1 - 2 * x) * grad
            else:
                delta = grad - (x * grad).sum(-1, keepdim=True)
                stay = x > 0.5  # staying put is not a move
                blocked = stay if blocked is None else blocked | stay
            if blocked is not None:
                delta = delta.masked_fill(blocked, -torch.inf)
            scores.append(delta.reshape(batch, -1))
            size = scores[-1].shape[1]
            if undo and kind == "binary":
                backs.append(torch.arange(offset, offset + size, device=x.device).expand(batch, -1))
            elif undo:
                sites = size // categories
                current = x.reshape(batch, sites, categories).argmax(-1)
                base = torch.arange(sites, device=x.device).unsqueeze(-1) * categories
                back = (base + current.unsqueeze(-1)).expand(batch, sites, categories)
                backs.append(back.reshape(batch, -1) + offset)
            offset += size
        logits = torch.cat(scores, 1) / self.temperature
        movable = torch.isfinite(logits).any(1)
        logits = torch.where(movable.unsqueeze(1), logits, torch.zeros_like(logits))
        return logits.log_softmax(1), torch.cat(backs, 1) if undo else None, movable

    def _apply(self, values: dict, chosen: torch.Tensor):
        """Values after the chosen moves; [B] True where a categorical site got two values (None
        when no site can); [B] number of sites changed."""
        new, clash, offset = dict(values), None, 0
        hops = torch.zeros(chosen.shape[0], device=chosen.device)
        for name in self.variables:
            x = values[name]
            size = x[0].numel()
            pick = chosen[:, offset : offset + size].reshape(x.shape)
            offset += size
            if self.table[name].kind == "binary":
                new[name] = x + pick * (1 - 2 * x)
                hops = hops + pick.reshape(x.shape[0], -1).sum(1)
                continue
            per_site = pick.sum(-1)
            new[name] = torch.where(per_site.unsqueeze(-1) > 0, pick, x)
            if self.flips > 1:  # a single draw cannot give a site two values
                bad = (per_site > 1).reshape(x.shape[0], -1).any(1)
                clash = bad if clash is None else clash | bad
            hops = hops + (per_site > 0).reshape(x.shape[0], -1).sum(1)
        return new, clash, hops

    def _log_reverse(self, proposal: Point, target: Target, back) -> torch.Tensor:
        """log q(x | x'): the draws `back` that undo the move, from the proposal's gradients."""
        log_q_back, _, _ = self._log_proposal(proposal, target, undo=False)
        return log_q_back.gather(1, back).sum(1)

    def step(self, point: Point, state: KernelState, target: Target, generator):
        point = target.with_grads(point, self.variables)
        log_q, undo, movable = self._log_proposal(point, target)
        # `flips` i.i.d. draws by the Gumbel-max trick: one uniform per entry and draw.
        noise = gumbel((self.flips, *log_q.shape), generator, log_q.device)
        draws = (log_q + noise).argmax(-1).t()  # [B, flips]
        # Entries drawn twice count once: a binary site flips once, and a categorical site
        # given two different values shows up as a clash in `_apply`.
        chosen = torch.zeros_like(log_q).scatter_(1, draws, 1.0)
        values, clash, hops = self._apply(point.values, chosen)
        proposal = target.propose(point, values, self.variables)
        log_alpha = proposal.f - point.f - log_q.gather(1, draws).sum(1)
        log_alpha = log_alpha + self._log_reverse(proposal, target, undo.gather(1, draws))
        if clash is not None:
            log_alpha = log_alpha.masked_fill(clash, -torch.inf)
        accept = metropolis_accept(log_alpha, generator) & movable
        return select(accept, proposal, point), record(state, accept, hops)
