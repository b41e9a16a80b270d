"""Block Gibbs for discrete variables the energy is affine in: every site redrawn at once.

In: a `Point` with f and gradients. Out: the point after one exact update of the whole block.
When f is affine in the block's model-space codes (0/1 for binary, one-hot for categorical) and no
term couples two of its sites - an RBM's hidden layer given the visible one and vice versa, a
mixture's component - the sites are independent given everything else, and the gradient holds
each site's exact conditional: f(site = 1) - f(site = 0) = df/dx for a binary site, f(site = k) =
df/dx_k + const for a categorical one. So one forward and backward pass redraws every site of
every chain (per-site `gibbs` needs K forward passes per site). The checker proves the affinity
from the energy's expression (`energy_facts.separable`, E410); without it this would not be an exact
kernel. Clamped sites keep their values.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F

from ebmspec.runtime.sampling.kernels.base import Kernel, KernelState, Point, Target, gumbel, record
from ebmspec.runtime.sampling.kernels.draws import uniform
from ebmspec.semantic.registry.signatures import DISCRETE, Signature

# `update VARS with block_gibbs`: the registry row the checker binds a spec's arguments to; the
# planner's traits (`reads`, `leaves`) come from the class below (`kernels.__init__`).
SIGNATURE = Signature(
    "block_gibbs",
    (),
    "exact Gibbs of every site of the block at once, from one gradient: for variables the "
    "energy is affine in with no coupling between their sites (an RBM layer given the other, "
    "a mixture's component; the checker proves it)",
    domains=DISCRETE,
)

# --- begin standalone ---


class BlockGibbs(Kernel):
    """Exact parallel Gibbs over `variables`, f affine in their codes (no rejections)."""

    name = "block_gibbs"
    reads = "grad"
    leaves = "none"

    def step(self, point: Point, state: KernelState, target: Target, generator):
        point = target.with_grads(point, self.variables)
        values = dict(point.values)
        hops = None
        for name in self.variables:
            x, grad = point.values[name], point.grads[name]
            if self.table[name].kind == "binary":
                new = (uniform(x.shape, generator, x.device) < torch.sigmoid(grad)).to(x.dtype)
            else:
                choice = (grad + gumbel(grad.shape, generator, x.device)).argmax(-1)
                new = F.one_hot(choice, x.shape[-1]).to(x.dtype)
            if target.free[name] is not None:
                keep = target.mask(name, x) == 0
                new = torch.where(keep, x, new)
            values[name] = new
            changed = (new != x).reshape(x.shape[0], -1).sum(1).to(x.dtype)
            if self.table[name].kind == "categorical":
                changed = changed / 2  # a changed one-hot site differs in two entries
            hops = changed if hops is None else hops + changed
        accept = torch.ones_like(hops, dtype=torch.bool)
        return Point(values, None, None), record(state, accept, hops)
