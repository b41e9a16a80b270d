"""Persistent contrastive divergence (`pcd`): negatives from chains kept in a replay buffer.

In: a data batch (missing labels imputed first by a clamped chain, paper 004 Eq. 8) and the
negatives of this process's shares. Out: the loss

    -(mean f(data) - mean f(negatives)) + energy_l2 (mean f+^2 + mean f-^2)
    + grad_penalty mean(1/2 |grad_x f(data)|^2),

whose gradient is the maximum-likelihood gradient with the chains' samples standing in for the
model's (docs/design/ALGORITHMS.md 2.3).
"""

from __future__ import annotations

import torch

from ebmspec.runtime.training.objectives.base import (
    Objective,
    gradient_penalty,
    penalty_inputs,
    share_batches,
)
from ebmspec.semantic.registry.signatures import Signature
from ebmspec.semantic.registry.training import BUFFER_ARGS, CHAIN_ARGS, LATENT_ARGS

SIGNATURE = Signature(
    "pcd",
    CHAIN_ARGS + BUFFER_ARGS + LATENT_ARGS,
    "persistent contrastive divergence (replay buffer of every variable); latent variables "
    "summed out of the data term exactly or drawn by clamped chains (`latents`)",
)


def _stack(first: dict, second: dict) -> dict:
    return {name: torch.cat([first[name], second[name]]) for name in first}


def contrastive_loss(
    model, positive: dict, negative: dict, variables: dict, energy_l2=0.0, grad_penalty=0.0,
    free=None,
):  # fmt: skip
    """The pcd / cd loss and its parts (f on data, f on samples) as 0-d tensors. `free`: the
    data term's energy when the batch lacks latent variables summed out exactly
    (`LatentTerm.free`), F(x) = log sum_h exp f(x, h); else f on the batch."""
    positive, reals = penalty_inputs(positive, variables, grad_penalty)
    count = next(iter(positive.values())).shape[0]
    if free is not None:
        f_pos, f_neg = free(model, positive)[:, 0], model(negative)
    else:
        # One pass over data and samples together: one batched matmul beats two half-size ones.
        f = model(_stack(positive, negative))
        f_pos, f_neg = f[:count], f[count:]
    loss = -(f_pos.mean() - f_neg.mean())
    if energy_l2 > 0:
        loss = loss + energy_l2 * (f_pos.pow(2).mean() + f_neg.pow(2).mean())
    if reals:
        loss = loss + grad_penalty * gradient_penalty(f_pos, positive, reals)
    return loss, f_pos.detach().mean(), f_neg.detach().mean()


class PcdObjective(Objective):
    name = "pcd"
    negatives = "persistent"
    shardable = True
    from_data = False  # cd(start = data): the chains start at the batch's examples

    def step(self, trainer, positive: dict, observed: dict) -> dict | None:
        s = trainer.s
        positive, observed, negative, _, rates = share_batches(
            trainer, positive, observed, impute_labels=True, start_from_data=self.from_data
        )

        def compute(model):
            free = self.latent.free if self.latent.exact else None
            return contrastive_loss(
                model, positive, negative, trainer.table, s.energy_l2, s.grad_penalty, free
            )

        loss, f_pos, f_neg = trainer.forward(compute)
        return trainer.apply(loss, {"f_data": f_pos, "f_samples": f_neg}, rates)
