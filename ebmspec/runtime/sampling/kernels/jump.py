"""A joint move of labels and position: jump to another mode with the label that goes with it.

In: a `Point` of a block holding discrete variables (the labels) and real ones (the position),
and the data's mean position per joint label value (`Target.stats`, key `shift_key`). Out: the
point after one step, with f known there.

Why: when the labels pin the position to well-separated modes (a mixture on a lattice, the toy's
8 Gaussians), a label move is plausible only once x already sits near the other mode, and a
position move only within the current one, so block moves almost never change modes. Here the
chain at (x, c) looks at its *orbit* {(x + m_k - m_c, k)}: for every joint value k of the block's
labels, x translated by the difference of the data's mean positions m_k - m_c. The orbit is the
same set seen from any of its points (x + m_k - m_c + m_j - m_k = x + m_j - m_c) and translation
keeps volume, so the target restricted to the orbit is proportional to exp f at its C points,
scored in one batched pass:

* `gibbs = true`: draw the orbit point from that law - exact, never rejected;
* default (Metropolised Gibbs, Liu 1996): propose k != c with probability p_k / (1 - p_c) and
  accept with min(1, (1 - p_c) / (1 - p_k)): the same law, but it leaves the current point
  whenever that is allowed.

Any fixed table m keeps the move exact; the data's means make it useful. Without them (an
untrained run, or a checkpoint without those statistics) m = 0: a joint Gibbs step of the labels at
fixed x. Clamped label elements restrict the orbit to the values that agree with them; clamped
position elements are not shifted; a shifted point outside a bounded variable's box has probability
0. `accepted` counts the steps that changed the labels (for the Gibbs variant too). The loops run
over the block's variables, never over chains.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F

from ebmspec.runtime.model.ops import code_values, joint_codes, site_counts
from ebmspec.runtime.sampling.kernels.base import (
    Kernel,
    KernelState,
    Point,
    Target,
    gumbel,
    record,
)
from ebmspec.runtime.sampling.kernels.draws import uniform
from ebmspec.semantic.registry.signatures import CONTINUOUS, DISCRETE, Signature
from ebmspec.semantic.registry.signatures import Param as P

# `update VARS with jump(...)`: the registry row the checker binds a spec's arguments to; the
# planner's traits (`reads`, `leaves`) come from the class below (`kernels.__init__`).
SIGNATURE = Signature(
    "jump",
    (P("gibbs", "bool", False),),
    "joint move of a block's labels and position: every joint label value k, with the real "
    "variables translated by the data's mean difference m_k - m_c, scored at once; "
    "Metropolised Gibbs over those points (`gibbs = true`: plain Gibbs). Mixes between "
    "modes that block moves cannot leave",
    domains=CONTINUOUS + DISCRETE,
    extra={"mixed": True},
)

# --- begin standalone ---


def shift_key(labels) -> str:
    """The data-statistics key of a real variable's mean per joint value of `labels`."""
    return "means_by:" + ",".join(labels)


def place_values(table: dict, labels) -> torch.Tensor:
    """[sites] what each site's value adds to a joint value's row of `joint_codes`."""
    from_here = torch.tensor(site_counts(table, labels)).flip(0).cumprod(0).flip(0)
    return torch.cat([from_here[1:], torch.ones(1, dtype=from_here.dtype)])


def label_codes(table: dict, labels, values: dict) -> torch.Tensor:
    """[B, sites] the site values of `labels` in `values` (one-hot or 0/1)."""
    columns = []
    for name in labels:
        value = values[name]
        batch = value.shape[0]
        if table[name].kind == "binary":
            columns.append(value.reshape(batch, -1).round().long())
        else:
            columns.append(value.reshape(batch, -1, value.shape[-1]).argmax(-1))
    return torch.cat(columns, 1)


class Jump(Kernel):
    """Metropolised Gibbs (or plain Gibbs) over the translation orbit of the block's labels."""

    name = "jump"
    reads = "none"
    leaves = "f"
    enumerates = "always"
    # The block keeps its clamped variables: the orbit is over the joint values of all its labels
    # (the shift table's rows), restricted to those that agree with the clamps.
    whole_block = True

    def __init__(self, variables, table: dict, gibbs: bool = False):
        super().__init__(variables, table)
        self.gibbs = bool(gibbs)
        self.labels = tuple(n for n in self.variables if table[n].kind != "real")
        self.reals = tuple(n for n in self.variables if table[n].kind == "real")
        self.codes = None  # [C, sites] and the sites' place values, made on first use
        self.radix = None

    def _shifts(self, target: Target, name: str, device) -> torch.Tensor | None:
        table = target.stats.get(name, {}).get(shift_key(self.labels))
        if table is None or table.shape[0] != self.codes.shape[0]:
            return None
        return table.to(device)

    def step(self, point: Point, state: KernelState, target: Target, generator):
        values = dict(point.values)  # some label is free: `running_blocks` drops the block else
        some = values[self.labels[0]]
        batch, device = some.shape[0], some.device
        if self.codes is None or self.codes.device != device:
            self.codes = joint_codes(self.table, self.labels, device)
            self.radix = place_values(self.table, self.labels).to(device)
        codes = self.codes
        configs = codes.shape[0]
        current = label_codes(self.table, self.labels, values)  # [B, sites]
        index = (current * self.radix).sum(1)  # [B] the chain's row of `codes`
        allowed = self._allowed(codes, current, target)  # [B, C]

        trial, column = {}, 0
        for name in self.labels:
            spec = self.table[name]
            sites = math.prod(spec.shape)
            code = codes[:, column : column + sites]
            column += sites
            x = values[name]
            hot = code_values(code, spec.kind, x.shape[-1], x.dtype)
            trial[name] = hot.reshape(configs, 1, *x.shape[1:]).expand(configs, batch, *x.shape[1:])
        inside = torch.ones(configs, batch, dtype=torch.bool, device=device)
        for name in self.reals:
            x = values[name]
            shifts = None if name in target.fixed else self._shifts(target, name, device)
            if shifts is None:
                trial[name] = x.unsqueeze(0).expand(configs, *x.shape)
                continue
            # z_k = x + (m_k - m_c) for every chain (row c of the table) and every value k; the
            # difference first, so that z_c is x exactly. Clamped elements do not move.
            shift = shifts.unsqueeze(1) - shifts[index].unsqueeze(0)
            moved = x.unsqueeze(0) + shift * target.mask(name, x)
            spec = self.table[name]
            if spec.low is not None:
                flat = moved.reshape(configs, batch, -1)
                inside &= ((flat >= spec.low) & (flat <= spec.high)).all(-1)
            trial[name] = moved
        for name, value in values.items():
            if name not in trial:
                trial[name] = value.unsqueeze(0).expand(configs, *value.shape)
        stacked = {n: v.reshape(configs * batch, *v.shape[2:]) for n, v in trial.items()}
        scores = target.energy_only(stacked).reshape(configs, batch).t()  # [B, C]
        logits = scores.masked_fill(~(allowed & inside.t()), -torch.inf)

        if self.gibbs:
            choice = (logits + gumbel(logits.shape, generator, device)).argmax(1)
            accept = torch.ones(batch, dtype=torch.bool, device=device)
        else:
            choice, accept = self._metropolised(logits, index, generator)
        final = torch.where(accept, choice, index)
        rows = torch.arange(batch, device=device)
        new_values = {
            n: (trial[n][final, rows] if n in self.variables else values[n]) for n in values
        }
        hops = (codes[final] != current).sum(1).to(some.dtype)
        return (
            Point(new_values, scores[rows, final], None, None),
            record(state, final != index, hops),
        )

    def _allowed(self, codes: torch.Tensor, current: torch.Tensor, target: Target):
        """[B, C] the joint values that agree with every clamped label element."""
        clamped, column = [], 0
        for name in self.labels:
            sites = math.prod(self.table[name].shape)
            free = target.free[name]
            if name in target.fixed:
                clamped.append(torch.ones_like(current[:, column : column + sites], dtype=bool))
            elif free is None:
                clamped.append(torch.zeros_like(current[:, column : column + sites], dtype=bool))
            else:
                clamped.append(~free.reshape(current.shape[0], sites))
            column += sites
        held = torch.cat(clamped, 1)  # [B, sites]
        agree = (codes.unsqueeze(0) == current.unsqueeze(1)) | ~held.unsqueeze(1)
        return agree.all(-1)

    def _metropolised(self, logits: torch.Tensor, index: torch.Tensor, generator):
        """Propose k != c with probability p_k / (1 - p_c); accept with (1 - p_c) / (1 - p_k),
        both in logs: log(1 - p_j) is the logsumexp of the other values' log-probabilities."""
        batch, configs = logits.shape
        own = F.one_hot(index, configs).bool()
        others = logits.masked_fill(own, -torch.inf)
        choice = (others + gumbel(logits.shape, generator, logits.device)).argmax(1)
        movable = torch.isfinite(others).any(1)  # some other value is allowed
        picked = F.one_hot(choice, configs).bool()
        leave_here = torch.logsumexp(others, 1)  # log(sum_{j != c} e^{f_j})
        leave_there = torch.logsumexp(logits.masked_fill(picked, -torch.inf), 1)
        log_alpha = leave_here - leave_there
        u = uniform(batch, generator, logits.device)
        accept = movable & (torch.log(u) < log_alpha)
        return torch.where(movable, choice, index), accept


def shift_groups(blocks, table: dict) -> list:
    """(reals, labels) of every `jump` block among sampler-table rows `(kernel, names, params,
    repeats)`: the mean positions per label value a training run keeps in its statistics."""
    groups = []
    for kernel, names, _, _ in blocks:
        if kernel == Jump.name:
            reals = tuple(n for n in names if table[n].kind == "real")
            group = (reals, tuple(n for n in names if table[n].kind != "real"))
            if group not in groups:
                groups.append(group)
    return groups
