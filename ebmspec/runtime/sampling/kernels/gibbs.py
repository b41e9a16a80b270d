"""Exact Gibbs for small discrete variables: colour by colour, or the whole block at once.

In: a `Point` (f and gradients when the colours are drawn by gradient). Out: the point after one
exact update. `joint=False`: a systematic scan over the colours of the block's sites
(`passes.colouring`; without a colouring every site is its own colour). Sites of one colour
share no term of f, so they are independent given everything else and are drawn together:
`draw="gradient"` when f is affine in their codes - the gradient holds each site's exact
conditional (f(site = 1) - f(site = 0) = df/dx for a binary site, f(site = k) = df/dx_k + const
for a categorical one), one forward and backward pass per colour; `draw="enumerate"` otherwise -
every value of every site of the colour for every chain in one batched forward. `joint=True`:
every joint value of the block (K^sites of them) is scored at once and the whole block is
redrawn from its exact conditional - one step mixes the labels perfectly. Clamped elements keep
their value. When the energy splits for the block's moves (`Memo`), its static part (dSprites:
the CNN features) is evaluated once and the enumerations run the head alone; the memo is left
for the next block, whose gradients then cost one backward from it. The loops run over colours
(or not at all), never over chains.
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
from ebmspec.runtime.sampling.kernels.draws import uniform
from ebmspec.semantic.registry.signatures import DISCRETE, Signature
from ebmspec.semantic.registry.signatures import Param as P

# `update VARS with gibbs(...)`: the registry row the checker binds a spec's arguments to; the
# planner's traits (`reads`, `leaves`) come from the class below (`kernels.__init__`).
SIGNATURE = Signature(
    "gibbs",
    (P("joint", "bool", False),),
    "exact Gibbs: one systematic scan over the colours of the sites (sites that share no term "
    "of f are drawn together, `--emit schedule` shows the colouring); "
    "`joint = true` draws the whole block from its joint conditional",
    domains=DISCRETE,
)

# --- begin standalone ---


class Gibbs(Kernel):
    """Exact Gibbs sampler (no rejections): per colour of sites, or over the joint values.

    colours: one colour per site over the block's variables' sites in order (`ir.Colouring`),
             or None for one site per colour.
    draw:    "gradient" or "enumerate" (see the module docstring).
    """

    name = "gibbs"
    reads = "none"
    leaves = "none"
    enumerates = "joint"

    def __init__(
        self, variables, table: dict, joint: bool = False, colours=None, draw: str = "enumerate"
    ):
        super().__init__(variables, table)
        self.joint = bool(joint)
        self.draw = "enumerate" if self.joint else draw
        if self.draw == "gradient":
            self.reads = "grad"  # each colour starts from f and the gradients at the point
        self.codes = None  # [C, sites] every joint value of the block, made on first use
        sizes = [math.prod(table[n].shape) for n in self.variables]
        if colours is None:
            colours = range(sum(sizes))
        colours = torch.as_tensor(list(colours), dtype=torch.long)
        # Per colour, per variable: the flat indices of its sites of that colour.
        self.colours = []
        for colour in range(int(colours.max()) + 1 if len(colours) else 0):
            members, start = {}, 0
            for name, size in zip(self.variables, sizes, strict=True):
                found = torch.nonzero(colours[start : start + size] == colour).flatten()
                start += size
                if len(found):
                    members[name] = found
            self.colours.append(members)
        self.masks: dict = {}  # (colour, name, device) -> bool [*shape], made on first use

    def _scores(self, trial: dict, memo, target: Target) -> torch.Tensor:
        if memo is not None:
            return target.head_energies(memo, trial)
        return target.energy_only(trial)

    def step(self, point: Point, state: KernelState, target: Target, generator):
        if self.draw == "gradient":
            values, hops, memo = self._by_gradient(point, target, generator)
        else:
            memo = target.memo(point, self.variables)
            if self.joint:
                values, hops = self._joint(point, memo, target, generator)
            else:
                values, hops = self._scan(point, memo, target, generator)
        accept = torch.ones_like(hops, dtype=torch.bool)
        memo = None if memo is None else memo._replace(dstatics=None)
        return Point(values, None, None, memo), record(state, accept, hops)

    def _mask(self, colour: int, name: str, device) -> torch.Tensor:
        key = (colour, name, device)
        if key not in self.masks:
            mask = torch.zeros(math.prod(self.table[name].shape), dtype=torch.bool, device=device)
            mask[self.colours[colour][name].to(device)] = True
            self.masks[key] = mask.reshape(self.table[name].shape)
        return self.masks[key]

    def _by_gradient(self, point: Point, target: Target, generator):
        """Each colour from one evaluation: its sites' conditionals are in the gradient. One
        uniform (binary) or Gumbel (categorical) draw per site and sweep, made before the first
        colour: the colours are disjoint, so each site uses its own number once."""
        some = next(iter(point.values.values()))
        hops = torch.zeros(some.shape[0], device=some.device)
        key = tuple(sorted(self.variables))
        noise = {}
        for name in self.variables:
            x = point.values[name]
            draw = uniform if self.table[name].kind == "binary" else gumbel
            noise[name] = draw(x.shape, generator, x.device)
        for colour, members in enumerate(self.colours):
            point = target.with_grads(point, self.variables)
            values = dict(point.values)
            for name in members:
                x, grad = point.values[name], point.grads[name]
                spec = self.table[name]
                if spec.kind == "binary":
                    new = (noise[name] < torch.sigmoid(grad)).to(x.dtype)
                    move = self._mask(colour, name, x.device)
                else:
                    choice = (grad + noise[name]).argmax(-1)
                    new = F.one_hot(choice, spec.categories).to(x.dtype)
                    move = self._mask(colour, name, x.device).unsqueeze(-1)
                if target.free[name] is not None:
                    move = move & (target.mask(name, x) > 0)
                new = torch.where(move, new, x)
                values[name] = new
                changed = (new != x).reshape(x.shape[0], -1).sum(1).to(x.dtype)
                if spec.kind == "categorical":
                    changed = changed / 2  # a changed one-hot site differs in two entries
                hops = hops + changed
            # The static part of a split energy stays valid while only this block moves.
            memo = point.memo if point.memo is not None and point.memo.moving == key else None
            memo = None if memo is None else memo._replace(dstatics=None)
            point = Point(values, None, None, memo)
        return point.values, hops, point.memo

    def _scan(self, point: Point, memo, target: Target, generator):
        """Each colour from one batched forward over all values of all its sites."""
        values = dict(point.values)
        some = next(iter(values.values()))
        batch = some.shape[0]
        hops = torch.zeros(batch, device=some.device)
        for members in self.colours:
            for name, sites in members.items():
                spec = self.table[name]
                kind, count = spec.kind, 2 if spec.kind == "binary" else spec.categories
                total = math.prod(spec.shape)
                x = values[name]
                flat = x.reshape(batch, total, -1)  # [B, sites, 1 or K]
                sites = sites.to(x.device)
                width = len(sites)
                # Every (site, value) of the colour for every chain, copy-major: copy
                # j * K + k sets the colour's site j to value k.
                options = flat.unsqueeze(0).repeat(width * count, 1, 1, 1)
                rows = torch.arange(width * count, device=x.device)
                where = sites.repeat_interleave(count)
                setting = torch.arange(count, device=x.device).repeat(width)
                if kind == "binary":
                    options[rows, :, where, 0] = setting.to(x.dtype).unsqueeze(1)
                else:
                    eye = torch.eye(count, device=x.device, dtype=x.dtype)
                    options[rows, :, where, :] = eye[setting].unsqueeze(1)
                trial = _tiled(values, width * count, None if memo is None else self.variables)
                trial[name] = options.reshape(width * count * batch, *x.shape[1:])
                scores = self._scores(trial, memo, target).reshape(width, count, batch)
                logits = scores.permute(2, 0, 1)  # [B, width, K]
                if width == 1:
                    logits = logits[:, 0]  # a one-site colour draws [B, K] random numbers
                choice = (logits + gumbel(logits.shape, generator, x.device)).argmax(-1)
                choice = choice.reshape(batch, width)
                if kind == "binary":
                    new_sites = choice.to(x.dtype).unsqueeze(-1)
                else:
                    new_sites = F.one_hot(choice, count).to(x.dtype)
                old_sites = flat[:, sites]
                if target.free[name] is not None:
                    keep = ~target.free[name].reshape(batch, total)[:, sites]
                    new_sites = torch.where(keep.unsqueeze(-1), old_sites, new_sites)
                hops = hops + (new_sites != old_sites).any(-1).sum(1).to(hops.dtype)
                updated = flat.clone()
                updated[:, sites] = new_sites
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
