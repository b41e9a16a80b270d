"""Exact single-site Gibbs for small discrete variables.

In: a `Point` (nothing about f is needed). Out: the point after one systematic scan over every site
of the block's variables: each site is redrawn from its exact conditional, found by evaluating f at
all K values of that site for all chains in one batched forward pass. Clamped sites keep their
value. The loop runs over sites, never over chains; cost per step = sites forward passes of K x B.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F

from ebmspec.runtime.kernels.base import Kernel, KernelState, Point, Target, gumbel, record

# --- begin standalone ---


class Gibbs(Kernel):
    """Systematic-scan Gibbs sampler (exact conditionals, no rejections)."""

    name = "gibbs"
    reads = "none"
    leaves = "none"

    def step(self, point: Point, state: KernelState, target: Target, generator):
        values = dict(point.values)
        some = next(iter(values.values()))
        batch = some.shape[0]
        hops = torch.zeros(batch, device=some.device)
        for name in self.variables:
            kind, shape, categories, _, _ = self.table[name]
            count = 2 if kind == "binary" else categories
            sites = math.prod(shape)
            free = target.free[name]
            for site in range(sites):
                x = values[name]
                flat = x.reshape(batch, sites, -1)  # [B, sites, 1 or K]
                # All K settings of this site for every chain, stacked on the batch axis.
                options = flat.unsqueeze(0).repeat(count, 1, 1, 1)
                if kind == "binary":
                    setting = torch.arange(count, device=x.device, dtype=x.dtype)
                    options[:, :, site, 0] = setting.unsqueeze(1)
                else:
                    options[:, :, site, :] = torch.eye(count, device=x.device, dtype=x.dtype)[
                        :, None, :
                    ]
                trial = {
                    n: v.unsqueeze(0).expand(count, *v.shape).reshape(count * batch, *v.shape[1:])
                    for n, v in values.items()
                }
                trial[name] = options.reshape(count * batch, *x.shape[1:])
                logits = target.energy_only(trial).reshape(count, batch).t()
                choice = (logits + gumbel(logits.shape, generator, x.device)).argmax(1)
                if kind == "binary":
                    new_site = choice.to(x.dtype).unsqueeze(-1)
                else:
                    new_site = F.one_hot(choice, count).to(x.dtype)
                if free is not None:
                    keep = ~free.reshape(batch, sites)[:, site]
                    new_site = torch.where(keep.unsqueeze(-1), flat[:, site], new_site)
                hops = hops + (new_site != flat[:, site]).any(-1).to(hops.dtype)
                updated = flat.clone()
                updated[:, site] = new_site
                values[name] = updated.reshape(x.shape)
        accept = torch.ones(batch, dtype=torch.bool, device=some.device)
        return Point(values, None, None), record(state, accept, hops)
