"""The protocol every training objective follows, and the pieces several of them share.

In: the trainer (`training.trainer.Trainer`: the model, the settings, the variable table, the
sampler table, this process's shares of the negative chains and their generators, the data
statistics) and one model-space data batch with its observed-label masks. Out: the iteration's
metrics (the loss and its parts, acceptance per block), or None after a rollback, through the
trainer's `apply` - the one optimizer step on the energy.

An objective is added as one module of this package: its `SIGNATURE` (the registry row the
checker binds a spec's `objective = name(...)` to) and an `Objective` subclass whose class traits
tell the trainer which negative chains to keep (`negatives`), and whether a run of several
processes may split it (`shardable`). `objectives.__init__` registers both.
"""

from __future__ import annotations

from typing import ClassVar

import torch

from ebmspec.runtime.io import checkpoint as ckpt
from ebmspec.runtime.model.enumeration import label_entropy, label_log_likelihood
from ebmspec.runtime.training import distributed
from ebmspec.runtime.training.latents import LatentTerm


class Objective:
    """One objective of one training run.

    Traits (class attributes):
      name: the spec's name for it (`objective = name(...)`).
      negatives: "persistent" (chains kept in a replay buffer of `buffer` slots), "fresh"
        (short-run chains from the init distributions every iteration) or None (no MCMC).
      shardable: whether a run of several shares (processes) splits its batch and chains.

    Protocol: `__init__(trainer)` once the trainer holds its model and tables; `kept()`, the
    variables the negative chains keep as drawn and those of a second set of chains (or None);
    `step(trainer, positive, observed)` one iteration; `state()` / `restore(...)` for parts the
    checkpoint keeps beside the energy (None when there are none). `latent` says how the data
    term treats latent variables (`training.latents`; the objective's `latents` argument)."""

    name: ClassVar[str]
    negatives: ClassVar[str | None] = None
    shardable: ClassVar[bool] = False

    def __init__(self, trainer) -> None:
        self.args = dict(trainer.program.train.objective.args)
        self.latent = LatentTerm(trainer, self.args.get("latents"))

    # The discrete variables the (first set of) negative chains sum out exactly instead of
    # sampling them (passes/collapse.py); jem sets it.
    summed: tuple[str, ...] = ()

    def kept(self) -> tuple[tuple[str, ...], tuple[str, ...] | None]:
        """(variables the chains keep as drawn, those a second set of chains keeps or None)."""
        return (), None

    def step(self, trainer, positive: dict, observed: dict) -> dict | None:
        raise NotImplementedError

    def state(self) -> tuple[dict, dict] | None:
        """(tensors, JSON-able groups) the checkpoint keeps for this objective, or None: here
        the persistent latent chains, when there are any."""
        chains = self.latent.state()
        return None if chains is None else (ckpt.with_prefix("latent", chains), {})

    def restore(self, tensors: dict, groups) -> None:
        """Back to a `state()` read from a checkpoint."""
        self.latent.restore(ckpt.under("latent", tensors))


def imputed(trainer, positive: dict, observed: dict) -> dict:
    """The batch with its missing labels (and latents, unless summed exactly) drawn by a clamped
    chain (paper 004, Eq. 8), for the objectives that run in one share: the chain draws from the
    share's generator."""
    return trainer.objective.latent.complete(
        trainer, positive, observed, trainer.rows, trainer.chain_gen, trainer.s.steps
    )


def label_term(model, positive: dict, variables: dict, labels, observed, alpha: float):
    """alpha * the exact label cross-entropy -mean log p(y | x) over the observed labels (0 when
    alpha is 0 or no label is observed): the supervised term of `ssm` and `dsm`, whose score
    terms say nothing about how p splits between label values."""
    if not alpha > 0:
        return 0.0
    log_py = label_log_likelihood(model, positive, variables, labels, observed or {})
    return alpha * (-log_py.mean()) if log_py.numel() else 0.0


def share_batches(
    trainer, positive: dict, observed: dict, impute_labels: bool, start_from_data: bool = False
):
    """This process's rows of the batch and its shares' negatives: (positive, observed masks,
    negatives, label-keeping negatives of `both` or None, acceptance per block averaged over the
    shares). With `impute_labels` (pcd, cd) each share fills its rows' missing labels (and
    sampled latents) with its own generator (paper 004, Eq. 8). `start_from_data` (cd's
    `start = data`): each share's chains start at its rows of the batch."""
    s = trainer.s
    per = s.batch // trainer.ranks.total
    mine = distributed.share_slice(s.batch, trainer.ranks)
    positive = {name: value[mine] for name, value in positive.items()}
    observed = {name: value[mine] for name, value in observed.items()}
    index = trainer.rows[mine] if trainer.rows is not None else None
    parts = []
    for j, share in enumerate(trainer.shares):
        rows = slice(j * per, (j + 1) * per)
        start = {n: v[rows] for n, v in positive.items()} if start_from_data else None
        negative, kept, rates = share.draw(trainer.model, per, trainer.stats, trainer.device, start)
        rows_positive = {name: value[rows] for name, value in positive.items()}
        if impute_labels:
            rows_positive = trainer.objective.latent.complete(
                trainer, rows_positive, {name: value[rows] for name, value in observed.items()},
                None if index is None else index[rows], share.chain_gen, s.steps,
            )  # fmt: skip
        parts.append((rows_positive, negative, kept, rates))
    if len(parts) == 1:
        return parts[0][0], observed, *parts[0][1:]

    def joined(dicts: list) -> dict:
        return {name: torch.cat([d[name] for d in dicts]) for name in dicts[0]}

    positives, negatives, kepts, rates = zip(*parts, strict=True)
    kept = None if kepts[0] is None else joined(kepts)
    rates = [torch.stack(block).mean(0) for block in zip(*rates, strict=True)]
    return joined(positives), observed, joined(negatives), kept, rates


def semi_supervised_terms(trainer, positive: dict):
    """For jem or vera with most labels hidden (`train.labels_per_class`): (the batch's label
    masks, all hidden, so it feeds the generative term only; a function adding alpha * the
    cross-entropy on a batch of labelled rows and, with `label_entropy`, beta * mean H(p(y | x))
    on the batch to a loss)."""
    s = trainer.s
    hidden = {n: torch.zeros(positive[n].shape[:1] + trainer.table[n].shape, dtype=torch.bool,
                             device=trainer.device) for n in s.labels}  # fmt: skip
    labelled = trainer.labelled_batch()

    def extra(loss: torch.Tensor) -> torch.Tensor:
        log_py = label_log_likelihood(trainer.model, labelled, trainer.table, s.labels, {})
        loss = loss + s.alpha * (-log_py.mean())
        if s.label_entropy > 0:
            entropy = label_entropy(trainer.model, positive, trainer.table, s.labels)
            loss = loss + s.label_entropy * entropy.mean()
        return loss

    return hidden, extra


def penalty_inputs(values: dict, variables: dict, grad_penalty: float) -> tuple[dict, list]:
    """(`values` with its real variables detached and requiring gradients, their names) when
    `grad_penalty` > 0 - the inputs of `gradient_penalty`; else (`values`, [])."""
    if not grad_penalty > 0:
        return values, []
    reals = [n for n, v in variables.items() if v.kind == "real" and n in values]
    return {
        n: v.detach().requires_grad_(True) if n in reals else v for n, v in values.items()
    }, reals


def gradient_penalty(f: torch.Tensor, inputs: dict, reals) -> torch.Tensor:
    """mean over examples of 1/2 |grad_x f|^2, x every real variable in `reals` (the inputs must
    require gradients); differentiable (a double backward), so it trains the energy."""
    # No real variable, or one the energy does not read: gradient 0 (generated specs crashed here).
    grads = (
        torch.autograd.grad(
            f.sum(), [inputs[n] for n in reals], create_graph=True, allow_unused=True
        )
        if reals
        else ()
    )
    grads = [g for g in grads if g is not None]
    if not grads:
        return f.new_zeros(())
    return 0.5 * sum(g.pow(2).reshape(g.shape[0], -1).sum(1) for g in grads).mean()
