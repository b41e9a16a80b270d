"""Random-walk Metropolis: Gaussian steps for real variables, single-site moves for discrete ones.

In: a `Point` (its energy reused when known). Out: the point after one MH step. Real blocks move
every free element by `scale` * N(0, I) and reject proposals that leave a variable's box; discrete
blocks pick one free site uniformly (over all the block's variables) and give it a uniformly random
different value. Both proposals are symmetric, so the test is on f alone. Keeps f, not gradients.
"""

from __future__ import annotations

import math

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
    squared_norm,
    within_bounds,
)
from ebmspec.runtime.sampling.kernels.draws import normal, uniform
from ebmspec.semantic.registry.signatures import CONTINUOUS, DISCRETE, Signature
from ebmspec.semantic.registry.signatures import Param as P

# `update VARS with metropolis(...)`: the registry row the checker binds a spec's arguments to; the
# planner's traits (`reads`, `leaves`) come from the class below (`kernels.__init__`).
SIGNATURE = Signature(
    "metropolis",
    (P("scale", "posfloat", 0.1),),
    "random-walk Metropolis (Gaussian for real, uniform single-site for discrete)",
    domains=CONTINUOUS + DISCRETE,
)

# --- begin standalone ---


class Metropolis(Kernel):
    """Random-walk Metropolis with Gaussian scale `scale` (ignored for discrete variables)."""

    name = "metropolis"
    reads = "f"
    leaves = "f"

    def __init__(self, variables, table: dict, scale: float = 0.1):
        super().__init__(variables, table)
        self.scale = float(scale)
        self.discrete = table[self.variables[0]].kind != "real"

    def step(self, point: Point, state: KernelState, target: Target, generator):
        # Discrete moves change only this block's variables: the head scores them (Memo).
        point = target.with_energy(point, self.variables if self.discrete else None)
        if self.discrete:
            values, hops, movable = self._site_move(point.values, target, generator)
        else:
            values = dict(point.values)
            for name in self.variables:
                x = point.values[name]
                xi = normal(x.shape, generator, x.device)
                values[name] = x + self.scale * target.mask(name, x) * xi
            hops = torch.sqrt(squared_norm([values[n] - point.values[n] for n in self.variables]))
            movable = within_bounds(values, self.variables, self.table)
        memo = point.memo
        if memo is None or not set(self.variables) <= set(memo.moving):
            memo = None  # a memo for other moves is stale at the proposal
        if memo is not None:
            f = target.head_energies(memo, values)
            proposal = Point(values, f, None, memo._replace(dstatics=None))
        else:
            proposal = Point(values, target.energy_only(values), None)
        log_alpha = (proposal.f - point.f).masked_fill(~movable, -torch.inf)
        accept = metropolis_accept(log_alpha, generator)
        kept = Point(point.values, point.f, None, memo)
        return select(accept, proposal, kept), record(state, accept, hops)

    def _site_move(self, values: dict, target: Target, generator):
        some = values[self.variables[0]]
        batch = some.shape[0]
        masks, sizes = [], []
        for name in self.variables:
            spec = self.table[name]
            kind, shape = spec.kind, spec.shape
            free = target.free[name]
            sites = math.prod(shape)
            masks.append(
                torch.ones(batch, sites, device=some.device)
                if free is None
                else free.reshape(batch, sites).to(some.dtype)
            )
            sizes.append(sites)
        allowed = torch.cat(masks, 1)
        noise = gumbel(allowed.shape, generator, some.device)
        site = (torch.log(allowed) + noise).argmax(1)  # uniform over the free sites
        shift = uniform(batch, generator, some.device)
        new = dict(values)
        offset = 0
        for name, sites in zip(self.variables, sizes, strict=True):
            spec = self.table[name]
            kind, categories = spec.kind, spec.categories
            x = values[name]
            hit = (site.unsqueeze(1) - offset == torch.arange(sites, device=x.device)).to(x.dtype)
            offset += sites
            if kind == "binary":
                new[name] = x + hit.reshape(x.shape) * (1 - 2 * x)
                continue
            flat = x.reshape(batch, sites, categories)
            # A uniformly random value other than the current one: current + 1 + U{0..K-2}.
            step = 1 + (shift * (categories - 1)).long().clamp(max=categories - 2)
            moved = (flat.argmax(-1) + step.unsqueeze(1)) % categories
            moved = F.one_hot(moved, categories).to(x.dtype)
            new[name] = torch.where(hit.unsqueeze(-1) > 0, moved, flat).reshape(x.shape)
        movable = allowed.sum(1) > 0
        return new, torch.ones(batch, device=some.device), movable
