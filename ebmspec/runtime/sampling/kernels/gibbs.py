"""Exact Gibbs for small discrete variables: one site at a time, or the whole block at once.

In: a `Point` (nothing about f is needed). Out: the point after one exact update. `joint=False`:
a systematic scan over every site of the block's variables, each redrawn from its exact
conditional, found by evaluating f at all K values of that site for all chains in one batched
pass. `joint=True`: every joint value of the block (K^sites of them) is scored at once and the
whole block is redrawn from its exact conditional - one step mixes the labels perfectly.
Clamped elements keep their value. When the energy splits for the block's moves (`Memo`), its
static part (dSprites: the CNN features) is evaluated once and the enumerations run the head
alone; the memo is left for the next block, whose gradients then cost one backward from it.
The loops run over sites (or not at all), never over chains.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F

from ebmspec.runtime.model.ops import code_values, joint_codes
from ebmspec.runtime.sampling.kernels.base import (
    Kernel,
    KernelState,
    Point,
    Target,
    gumbel,
    record,
)
from ebmspec.semantic.registry.signatures import DISCRETE, Signature
from ebmspec.semantic.registry.signatures import Param as P

# `update VARS with gibbs(...)`: the registry row the checker binds a spec's arguments to; the
# planner's traits (`reads`, `leaves`) come from the class below (`kernels.__init__`).
SIGNATURE = Signature(
    "gibbs",
    (P("joint", "bool", False),),
    "exact Gibbs: one systematic scan over the sites, each drawn from its K values; "
    "`joint = true` draws the whole block from its joint conditional",
    domains=DISCRETE,
)

# --- begin standalone ---


class Gibbs(Kernel):
    """Exact Gibbs sampler (no rejections): per site, or over the block's joint values."""

    name = "gibbs"
    reads = "none"
    leaves = "none"
    enumerates = "joint"

    def __init__(self, variables, table: dict, joint: bool = False):
        super().__init__(variables, table)
        self.joint = bool(joint)
        self.codes = None  # [C, sites] every joint value of the block, made on first use

    def _scores(self, trial: dict, memo, target: Target) -> torch.Tensor:
        if memo is not None:
            return target.head_energies(memo, trial)
        return target.energy_only(trial)

    def step(self, point: Point, state: KernelState, target: Target, generator):
        memo = target.memo(point, self.variables)
        if self.joint:
            values, hops = self._joint(point, memo, target, generator)
        else:
            values, hops = self._scan(point, memo, target, generator)
        accept = torch.ones_like(hops, dtype=torch.bool)
        memo = None if memo is None else memo._replace(dstatics=None)
        return Point(values, None, None, memo), record(state, accept, hops)

    def _scan(self, point: Point, memo, target: Target, generator):
        values = dict(point.values)
        some = next(iter(values.values()))
        batch = some.shape[0]
        hops = torch.zeros(batch, device=some.device)
        for name in self.variables:
            spec = self.table[name]
            kind, shape, categories = spec.kind, spec.shape, spec.categories
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
                trial = _tiled(values, count, None if memo is None else self.variables)
                trial[name] = options.reshape(count * batch, *x.shape[1:])
                logits = self._scores(trial, memo, target).reshape(count, batch).t()
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
        return values, hops

    def _joint(self, point: Point, memo, target: Target, generator):
        values = dict(point.values)
        some = values[self.variables[0]]
        batch, device = some.shape[0], some.device
        widths = []
        for name in self.variables:
            spec = self.table[name]
            kind, shape, categories = spec.kind, spec.shape, spec.categories
            widths.append((name, kind, math.prod(shape), 2 if kind == "binary" else categories))
        if self.codes is None or self.codes.device != device:
            self.codes = joint_codes(self.table, self.variables, device)
        codes = self.codes  # [C, total sites]
        configs = codes.shape[0]
        trial = _tiled(values, configs, None if memo is None else self.variables)
        current, allowed, column = [], None, 0
        for name, kind, sites, count in widths:
            x = values[name]
            code = codes[:, column : column + sites]  # [C, sites]
            column += sites
            hot = code_values(code, kind, count, x.dtype)
            option = hot.reshape(configs, *x.shape[1:])
            trial[name] = option.repeat_interleave(batch, 0)
            now = x.reshape(batch, sites) if kind == "binary" else x.reshape(batch, sites, count)
            now = now if kind == "binary" else now.argmax(-1)
            current.append(now.long())
            free = target.free[name]
            if free is not None:
                # A configuration must agree with every clamped element.
                clamped = ~free.reshape(batch, sites)
                agree = (code.unsqueeze(0) == now.long().unsqueeze(1)) | ~clamped.unsqueeze(1)
                ok = agree.all(-1)  # [B, C]
                allowed = ok if allowed is None else allowed & ok
        logits = self._scores(trial, memo, target).reshape(configs, batch).t()
        if allowed is not None:
            logits = logits.masked_fill(~allowed, -torch.inf)
        choice = (logits + gumbel(logits.shape, generator, device)).argmax(1)  # [B]
        picked = codes[choice]  # [B, total sites]
        hops = (picked != torch.cat(current, 1)).sum(1).to(some.dtype)
        column = 0
        for name, kind, sites, count in widths:
            x = values[name]
            code = picked[:, column : column + sites]
            column += sites
            hot = code_values(code, kind, count, x.dtype)
            values[name] = hot.reshape(x.shape)
        return values, hops


def _tiled(values: dict, copies: int, names=None) -> dict:
    """`copies` copies of every chain, copy-major (row c * B + b is chain b), of the variables
    `names` (default all; the head of a split energy reads only the moving ones)."""
    return {
        n: v.unsqueeze(0).expand(copies, *v.shape).reshape(copies * v.shape[0], *v.shape[1:])
        for n, v in values.items()
        if names is None or n in names
    }
