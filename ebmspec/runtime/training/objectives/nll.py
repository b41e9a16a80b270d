"""Exact maximum likelihood (`nll`): for a normalised flow energy, or an enumerable model.

In: a data batch (missing labels imputed first, as for pcd). Out: -(mean log p(data)), with log Z
by enumeration when the model is all-discrete, plus the energy_l2 and grad_penalty terms.
"""

from __future__ import annotations

import torch

from ebmspec import energy_facts
from ebmspec.runtime.model.enumeration import configurations
from ebmspec.runtime.training.objectives.base import (
    Objective,
    gradient_penalty,
    imputed,
    penalty_inputs,
)
from ebmspec.semantic.registry.signatures import Signature

SIGNATURE = Signature(
    "nll",
    (),
    "exact maximum likelihood: for a normalised flow energy (`return nice(...)` of the real "
    "variables) or for all-discrete models with at most MAX_ENUMERABLE joint values "
    "(log Z by enumeration; latent variables summed out of the data term). No sampling",
)


def nll_loss(
    model, positive: dict, variables: dict, flow: bool, energy_l2=0.0, grad_penalty=0.0,
    free=None,
):  # fmt: skip
    """Exact negative log-likelihood. `flow`: f is a normalised log-density
    (`energy_facts.flow_density`), so the loss is -mean f(data). Otherwise every variable is
    discrete and enumerable: -(mean f(data) - log Z), log Z the logsumexp of f over every joint
    value. `energy_l2` and `grad_penalty` (real variables) add their terms on the data, as for
    every objective. `free`: with latent variables, the data term log sum_h exp f(x, h)
    (`LatentTerm.free`). Returns (loss, {"f_data": mean f on data[, "log_z": log Z]})."""
    positive, reals = penalty_inputs(positive, variables, grad_penalty)
    f = model(positive) if free is None else free(model, positive)[:, 0]
    penalties = energy_l2 * f.pow(2).mean() if energy_l2 > 0 else 0.0
    if reals:
        penalties = penalties + grad_penalty * gradient_penalty(f, positive, reals)
    if flow:
        return -f.mean() + penalties, {"f_data": f.detach().mean()}
    device = f.device
    configs = configurations(variables, list(variables), device)
    log_z = torch.logsumexp(model(configs), 0)
    loss = -(f.mean() - log_z) + penalties
    return loss, {"f_data": f.detach().mean(), "log_z": log_z.detach()}


class NllObjective(Objective):
    name = "nll"

    def __init__(self, trainer) -> None:
        super().__init__(trainer)
        program = trainer.program
        self.flow = energy_facts.flow_density(program.energy, program.variables)

    def step(self, trainer, positive: dict, observed: dict) -> dict | None:
        s = trainer.s
        positive = imputed(trainer, positive, observed)
        free = self.latent.free if self.latent.names else None
        loss, parts = nll_loss(
            trainer.model, positive, trainer.table, self.flow, s.energy_l2, s.grad_penalty, free
        )
        return trainer.apply(loss, parts, [])
