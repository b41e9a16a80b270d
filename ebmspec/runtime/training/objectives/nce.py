"""Noise-contrastive estimation (`nce`, Gutmann & Hyvarinen 2010): tell data from noise, no MCMC.

In: a data batch (missing labels imputed first, as for pcd), the data statistics and a generator.
Out: the NCE loss with `ratio` = nu noise draws per data example,

    - mean_data log sigmoid(G(x)) - nu * mean_noise log sigmoid(-G(y)),
    G(v) = f(v) - log q(v) - log nu,

whose minimiser is f = log p_data (normalised: f learns log Z itself, so the energy needs a free
constant - a bias). The noise q is the sampler's init distribution made a density
(`runtime/sampling/base_density.py`, as AIS uses it): the data's per-element normal and value
frequencies (`normal_data`, `data_frequency`) or a named distribution (`normal(mean, std)`,
`uniform` on a box). Also reported: how often the classifier G > 0 tells the two apart.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F

from ebmspec.runtime.sampling.base_density import Base
from ebmspec.runtime.training.objectives.base import (
    Objective,
    gradient_penalty,
    imputed,
    penalty_inputs,
)
from ebmspec.semantic.registry.signatures import Param as P
from ebmspec.semantic.registry.signatures import Signature

SIGNATURE = Signature(
    "nce",
    (P("ratio", "posint", 1), P("sampler", "sampler?", None)),
    "noise-contrastive estimation: a logistic classifier f - log q between the data and "
    "`ratio` noise draws per example from q, the sampler's init distribution as a density "
    "(the data's statistics, or a named distribution); f learns to be normalised. No MCMC",
)


def nce_loss(
    model, positive: dict, noise: dict, base: Base, ratio: int, energy_l2: float = 0.0,
    grad_penalty: float = 0.0, variables: dict | None = None,
):  # fmt: skip
    """The NCE loss (module docstring) on `positive` and `noise` (ratio times as many rows), plus
    `energy_l2` (data and noise) and `grad_penalty` (the data's real variables, `variables`
    the table) as every objective. Returns (loss, {"f_data", "f_samples", "nce_accuracy"})."""
    log_nu = math.log(ratio)
    positive, reals = penalty_inputs(positive, variables or {}, grad_penalty)
    f_data = model(positive)
    g_data = f_data - base.log_prob(positive).to(torch.float32) - log_nu
    f_noise = model(noise)
    g_noise = f_noise - base.log_prob(noise).to(torch.float32) - log_nu
    loss = -F.logsigmoid(g_data).mean() - ratio * F.logsigmoid(-g_noise).mean()
    if energy_l2 > 0:
        loss = loss + energy_l2 * (f_data.pow(2).mean() + f_noise.pow(2).mean())
    if reals:
        loss = loss + grad_penalty * gradient_penalty(f_data, positive, reals)
    right = ((g_data > 0).float().sum() + (g_noise < 0).float().sum()) / (
        g_data.numel() + g_noise.numel()
    )
    parts = {"f_data": f_data.detach().mean(), "f_samples": f_noise.detach().mean(),
             "nce_accuracy": right.detach()}  # fmt: skip
    return loss, parts


class NceObjective(Objective):
    name = "nce"

    def __init__(self, trainer) -> None:
        super().__init__(trainer)
        self.base: Base | None = None

    def step(self, trainer, positive: dict, observed: dict) -> dict | None:
        s = trainer.s
        positive = imputed(trainer, positive, observed)
        if self.base is None:  # the data statistics exist once the trainer has started
            self.base = Base(trainer.sampler["inits"], trainer.table, trainer.stats)
        ratio = int(self.args["ratio"])
        batch = next(iter(positive.values())).shape[0]
        device = next(iter(positive.values())).device
        noise = self.base.sample(batch * ratio, trainer.chain_gen, device)
        loss, parts = nce_loss(trainer.model, positive, noise, self.base, ratio, s.energy_l2,
                               s.grad_penalty, trainer.table)  # fmt: skip
        return trainer.apply(loss, parts, [])
