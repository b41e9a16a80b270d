"""Pseudo-likelihood (`pseudo_likelihood`, Besag 1975): exact per-site conditionals, no sampling.

In: a data batch (missing labels imputed first, as for pcd) and a generator (for `sites`). Out:
-(mean over examples of sum over the discrete observed sites i of log p(x_i | x_-i)), each
conditional exact: f at the example with site i set to each of its values (binary: flipped),
normalised over them. The real variables are held at the data's values; latent variables are
summed out exactly (the free energy log sum_h exp f replaces f: an RBM's pseudo-likelihood).
With `sites = n` each example scores n random sites, scaled to all of them (an unbiased
estimate at a fraction of the cost on large images).
"""

from __future__ import annotations

import math

import torch

from ebmspec.runtime.training.objectives.base import (
    Objective,
    gradient_penalty,
    imputed,
    penalty_inputs,
)
from ebmspec.semantic.registry.signatures import Param as P
from ebmspec.semantic.registry.signatures import Signature

SIGNATURE = Signature(
    "pseudo_likelihood",
    (
        P("sites", "nonneg_int", 0),
        P("latents", "choice", "auto", choices=("auto", "exact")),
    ),
    "pseudo-likelihood of the discrete observed variables: sum over sites of the exact "
    "log p(x_i | the rest), the reals held at the data's and latent variables summed out "
    "exactly; `sites = n` scores n random sites per example (0: all). No sampling",
)

# Rows of one energy evaluation: the changed copies of a batch are scored this many at a time.
ROWS = 32768


def _changed(value: torch.Tensor, kind: str, sites: torch.Tensor) -> torch.Tensor:
    """[B, S, C, ...] copies of `value` ([B, *shape], one-hot [B, *shape, K] for a categorical)
    with site sites[b, s] changed: binary, flipped (C = 1); categorical, set to each of its K
    values (C = K, the example's own among them)."""
    batch, count = sites.shape
    at = (torch.arange(batch, device=value.device)[:, None], torch.arange(count)[None, :])
    if kind == "binary":
        flat = value.reshape(batch, -1)
        copies = flat[:, None, None, :].repeat(1, count, 1, 1)  # [B, S, 1, sites]
        copies[at[0], at[1], 0, sites] = 1 - flat.gather(1, sites)
        return copies.reshape(batch, count, 1, *value.shape[1:])
    flat = value.reshape(batch, -1, value.shape[-1])
    k = flat.shape[-1]
    copies = flat[:, None, None].repeat(1, count, k, 1, 1)  # [B, S, K, sites, K]
    eye = torch.eye(k, dtype=value.dtype, device=value.device)
    for c in range(k):
        copies[at[0], at[1], c, sites] = eye[c]
    return copies.reshape(batch, count, k, *value.shape[1:])


def pseudo_log_likelihood(
    energy, values: dict, variables: dict, names, sites: int = 0, generator=None
) -> torch.Tensor:
    """[B] sum over the sites of the discrete variables `names` of log p(x_i | x_-i) under
    exp energy(values) (`energy`: {name: [N, ...]} -> [N]); `sites` > 0: that many random sites
    per variable and example, scaled by (the variable's sites) / sites."""
    f_x = energy(values)
    batch = f_x.shape[0]
    total = torch.zeros_like(f_x)
    for name in names:
        spec, value = variables[name], values[name]
        count = math.prod(spec.shape)
        if sites and sites < count:
            noise = torch.rand(batch, count, generator=generator, device=value.device)
            chosen = noise.argsort(1)[:, :sites]
        else:
            chosen = torch.arange(count, device=value.device).expand(batch, count)
        options = 1 if spec.kind == "binary" else value.shape[-1]
        chunk = max(1, ROWS // (batch * options))  # sites scored per evaluation
        log_p = []
        for first in range(0, chosen.shape[1], chunk):
            part = chosen[:, first : first + chunk]
            copies = _changed(value, spec.kind, part)  # [B, S, C, ...]
            repeat = copies.shape[1] * options
            rows = {n: v.repeat_interleave(repeat, 0) for n, v in values.items() if n != name}
            rows[name] = copies.reshape(batch * repeat, *value.shape[1:])
            f = energy(rows).reshape(batch, copies.shape[1], options)
            if spec.kind == "binary":  # log p(x_i | rest) = -softplus(f(flipped) - f(x))
                log_p.append(-torch.nn.functional.softplus(f[..., 0] - f_x[:, None]))
            else:
                held = value.reshape(batch, -1, options).argmax(-1).gather(1, part)
                log_p.append(f.gather(2, held[..., None])[..., 0] - torch.logsumexp(f, 2))
        total = total + torch.cat(log_p, 1).sum(1) * (count / chosen.shape[1])
    return total


class PseudoLikelihoodObjective(Objective):
    name = "pseudo_likelihood"

    def __init__(self, trainer) -> None:
        super().__init__(trainer)
        self.names = [v.name for v in trainer.program.variables if v.discrete and v.observed]

    def step(self, trainer, positive: dict, observed: dict) -> dict | None:
        s = trainer.s
        positive = imputed(trainer, positive, observed)
        if self.latent.names:

            def energy(values):
                return self.latent.free(trainer.model, values)[:, 0]
        else:
            energy = trainer.model
        sites = int(self.args.get("sites") or 0)
        log_pl = pseudo_log_likelihood(
            energy, positive, trainer.table, self.names, sites, trainer.chain_gen
        )
        loss = -log_pl.mean()
        parts = {"pseudo_ll": log_pl.detach().mean()}
        # Every objective honours energy_l2 and grad_penalty (the reals held at the data's).
        inputs, reals = penalty_inputs(positive, trainer.table, s.grad_penalty)
        if s.energy_l2 > 0 or reals:
            f = energy(inputs)
            if s.energy_l2 > 0:
                loss = loss + s.energy_l2 * f.pow(2).mean()
            if reals:
                loss = loss + s.grad_penalty * gradient_penalty(f, inputs, reals)
            parts["f_data"] = f.detach().mean()
        return trainer.apply(loss, parts, [])
