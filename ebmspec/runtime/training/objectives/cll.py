"""Conditional likelihood (`cll`): train log p(rest | given), a CRF's labels given its inputs.

In: a data batch and the `given` variable's name. Out: the loss

    -(mean f(x, y) on data - mean f(x, y-)),   y- drawn by a chain on p(y | x) clamped to the
                                                batch's x,

whose gradient is the gradient of the conditional log-likelihood sum log p(y | x) with the
chain's draw standing in for E_{p(y|x)} grad f(x, y) - the normaliser Z(x) of each example is
never needed, so any model of y given x trains (a linear-chain CRF with 3^20 label sequences).
`chains = persistent` continues one chain per training row from where it stopped the last time
the row was drawn (checkpointed as `cll/chains/<name>`: a resumed run continues bit for bit);
`fresh` starts each from the init distributions. The chain is the objective's sampler with the
given variable clamped (`negatives.impute`).
"""

from __future__ import annotations

import torch

from ebmspec.runtime.io import checkpoint as ckpt
from ebmspec.runtime.training.latents import row_chains
from ebmspec.runtime.training.negatives import impute
from ebmspec.runtime.training.objectives.base import Objective, imputed
from ebmspec.runtime.training.objectives.pcd import contrastive_loss
from ebmspec.semantic.registry.signatures import Param as P
from ebmspec.semantic.registry.signatures import Signature
from ebmspec.semantic.registry.training import CHAIN_ARGS

SIGNATURE = Signature(
    "cll",
    (P("given", "variable"),)
    + CHAIN_ARGS
    + (P("chains", "choice", "persistent", choices=("persistent", "fresh")),),
    "conditional likelihood log p(rest | given) (a CRF): negatives from chains on p(rest | "
    "given) clamped to the batch's `given`; `chains = persistent` continues one chain per "
    "training row",
)


class CllObjective(Objective):
    name = "cll"
    negatives = None  # its chains are clamped to the batch, not a replay buffer

    def __init__(self, trainer) -> None:
        super().__init__(trainer)
        self.given = self.args["given"]
        self.drawn = tuple(n for n in trainer.table if n != self.given)
        self.persistent = self.args["chains"] == "persistent"
        self.chains: dict[str, torch.Tensor] | None = None

    def step(self, trainer, positive: dict, observed: dict) -> dict | None:
        s = trainer.s
        positive = imputed(trainer, positive, observed)  # missing labels first (Eq. 8)
        rows = trainer.rows
        start = None
        if self.persistent and rows is not None:
            if self.chains is None:
                self.chains = row_chains(trainer, self.drawn, positive[self.given].device)
            start = {name: chain[rows.to(chain.device)] for name, chain in self.chains.items()}
        given = {self.given: positive[self.given]}
        negative = impute(
            trainer.model, trainer.sampler, trainer.table, given, {}, s.steps, trainer.chain_gen,
            trainer.stats, start,
        )  # fmt: skip
        if start is not None:
            for name, chain in self.chains.items():
                chain[rows.to(chain.device)] = negative[name]

        def compute(model):
            return contrastive_loss(model, positive, negative, trainer.table, s.energy_l2)

        loss, f_pos, f_neg = trainer.forward(compute)
        return trainer.apply(loss, {"f_data": f_pos, "f_samples": f_neg}, [])

    def state(self):
        if self.chains is None:
            return None
        return ckpt.with_prefix("chains", {n: t.clone() for n, t in self.chains.items()}), {}

    def restore(self, tensors: dict, groups) -> None:
        chains = ckpt.under("chains", tensors)
        self.chains = {n: t.clone() for n, t in chains.items()} if chains else None
