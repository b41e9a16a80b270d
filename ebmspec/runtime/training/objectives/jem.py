"""JEM (`jem`, paper 000): a classifier's cross-entropy plus a generative term, the labels
summed out exactly.

In: a data batch, its observed-label masks, and the negatives of this process's shares (joint
chains; with `generative = conditional` chains that keep their labels; with `both` one set of
each). Out: the loss

    alpha * CE(p(y|x)) - (mean logsumexp_y f(x, y) on data - mean f(x-, y-)),

y enumerated exactly and (x-, y-) from the joint chain (its x-marginal is p(x)), plus the
energy_l2 and grad_penalty terms on its data term. With most labels hidden
(`train.labels_per_class`) the batch feeds the generative term only and a batch of labelled rows
the cross-entropy.
"""

from __future__ import annotations

import torch

from ebmspec.passes.collapse import collapse_plan
from ebmspec.runtime.model.enumeration import configurations, label_scores, marginal_energy
from ebmspec.runtime.training.objectives.base import (
    Objective,
    gradient_penalty,
    semi_supervised_terms,
    share_batches,
)
from ebmspec.semantic.registry.signatures import Param as P
from ebmspec.semantic.registry.signatures import Signature
from ebmspec.semantic.registry.training import BUFFER_ARGS, CHAIN_ARGS, LATENT_ARGS

SIGNATURE = Signature(
    "jem",
    CHAIN_ARGS
    + BUFFER_ARGS
    + LATENT_ARGS
    + (
        P("alpha", "nonneg_float", 1.0),
        P("label", "variable?", None),
        P("generative", "choice", "marginal", choices=("marginal", "conditional", "both")),
        P("collapse", "bool", True),
    ),
    "JEM hybrid: alpha * log p(y|x) + log p(x) (y marginalised exactly); "
    "`generative = conditional`: alpha * log p(y|x) + log p(x|y), negatives from chains "
    "that keep their labels; `both`: alpha * log p(y|x) + log p(x) + log p(x|y), both "
    "kinds of chains; latent variables summed out exactly (`latents = exact`); `collapse`: "
    "the joint chains sum the labels out exactly where listing them is cheap (--emit schedule "
    "says where), `false` samples them",
)


def jem_loss(
    model,
    positive: dict,
    negative: dict,
    variables: dict,
    labels: tuple[str, ...],
    alpha: float,
    observed: dict,
    energy_l2=0.0,
    generative: str = "marginal",
    kept_negative: dict | None = None,
    grad_penalty=0.0,
    free=None,
    collapsed: bool = False,
):
    """alpha * CE(p(y|x)) - (mean log p~(x) on data - mean f on joint samples), with
    log p~(x) = logsumexp_y f(x, y) over every joint value of the `labels`. Examples with a
    missing label element contribute to the generative term only.

    generative = "conditional": the generative term is log p(x | y) instead, -(mean f(x, y) on
    data - mean f on chains that kept their labels, `negative`): f(x, y) is the logsumexp over
    the configurations that agree with the observed label elements (f(x, y) itself when all are
    observed). "both": log p(x) with the joint chains `negative` plus log p(x | y) with the
    label-keeping chains `kept_negative`. `grad_penalty` adds grad_penalty * mean 1/2 |grad_x of
    the data term|^2 (paper 001's penalty, as pcd's). `free` (`LatentTerm.free`): with latent
    variables, f(x, y) on data is log sum_h exp f(x, y, h). Returns (loss, mean f on data, mean
    f on negatives)."""
    count = next(iter(positive.values())).shape[0]
    device = next(iter(positive.values())).device
    configs = configurations(variables, labels, device)
    options = next(iter(configs.values())).shape[0]
    # The label-free part (dSprites: the CNN h(x)) runs once per example, with its graph.
    keep_graph = {
        n: v.detach().requires_grad_(True) if v.is_floating_point() and n not in labels else v
        for n, v in positive.items()
    }
    f_neg = None
    if free is not None:
        f_all = free(model, keep_graph, labels)
    elif collapsed:
        # Data and collapsed negatives in one pass: one batched matmul beats two half-size ones.
        both = {n: torch.cat([v, negative[n]]) for n, v in keep_graph.items() if n not in labels}
        scores = label_scores(model, both, variables, labels)
        f_all, f_neg = scores[:count], torch.logsumexp(scores[count:], 1)
    else:
        f_all = label_scores(model, keep_graph, variables, labels)
    log_px = torch.logsumexp(f_all, 1)
    match = torch.ones(count, options, dtype=torch.bool, device=device)
    agree = torch.ones(count, options, dtype=torch.bool, device=device)
    for name in labels:
        spec = variables[name]
        kind, categories = spec.kind, spec.categories
        width = categories if kind == "categorical" else 1
        true = positive[name].reshape(count, 1, -1, width)
        option = configs[name].reshape(1, options, -1, width)
        same = (option == true).all(-1)  # [count, options, sites]
        match &= same.all(-1)
        known = observed.get(name)
        if known is not None:
            same = same | ~known.reshape(count, 1, -1)
        agree &= same.all(-1)
    f_true = (f_all * match).sum(1)
    if f_neg is None and collapsed:  # with latents summed by `free`
        f_neg = marginal_energy(model, negative, variables, labels)
    elif f_neg is None:
        f_neg = model(negative)
    # log p~(x, y_observed) for log p(x | y) (the marginal term needs none); log p~(x): log p(x)
    f_given = (
        None
        if generative == "marginal"
        else torch.logsumexp(f_all.masked_fill(~agree, -torch.inf), 1)
    )
    f_pos = f_given if generative == "conditional" else log_px
    loss = -(f_pos.mean() - f_neg.mean())
    if generative == "both":
        f_kept = model(kept_negative)
        loss = loss - (f_given.mean() - f_kept.mean())
        f_neg = torch.cat([f_neg, f_kept])
    keep = torch.ones(count, dtype=torch.bool, device=device)
    for name in labels:
        if name in observed:
            keep &= observed[name].reshape(count, -1).all(1)
    if alpha > 0 and bool(keep.any()):
        log_py = (f_true - log_px)[keep]
        loss = loss + alpha * (-log_py.mean())
    if energy_l2 > 0:
        loss = loss + energy_l2 * (f_pos.pow(2).mean() + f_neg.pow(2).mean())
    if grad_penalty > 0:
        reals = [n for n, v in variables.items() if v.kind == "real" and n in keep_graph]
        loss = loss + grad_penalty * gradient_penalty(f_pos, keep_graph, reals)
    return loss, f_pos.detach().mean(), f_neg.detach().mean()


class JemObjective(Objective):
    name = "jem"
    negatives = "persistent"
    shardable = True

    def __init__(self, trainer) -> None:
        super().__init__(trainer)
        self.labels = trainer.s.labels
        self.generative = trainer.s.generative
        # jem sums latent variables out exactly (the checker refuses chains for it).
        self.free = self.latent.free if self.latent.names else None
        plan = collapse_plan(trainer.program)
        self.summed = () if plan is None else plan.labels

    def kept(self) -> tuple[tuple[str, ...], tuple[str, ...] | None]:
        """`conditional`: the chains of p(x | y) keep the labels they were drawn with; `both`:
        joint chains, and label-keeping ones beside them."""
        if self.generative == "conditional":
            return self.labels, None
        return (), self.labels if self.generative == "both" else None

    def step(self, trainer, positive: dict, observed: dict) -> dict | None:
        s = trainer.s
        if trainer.labelled is not None:
            hidden, extra = semi_supervised_terms(trainer, positive)
            negative, kept, rates = trainer.shares[0].draw(
                trainer.model, s.batch, trainer.stats, trainer.device
            )
            loss, f_pos, f_neg = jem_loss(
                trainer.model, positive, negative, trainer.table, s.labels, 0.0, hidden,
                s.energy_l2, s.generative, kept, s.grad_penalty, self.free, bool(self.summed),
            )  # fmt: skip
            return trainer.apply(extra(loss), {"f_data": f_pos, "f_samples": f_neg}, rates)
        positive, observed, negative, kept, rates = share_batches(
            trainer, positive, observed, impute_labels=False
        )

        def compute(model):
            return jem_loss(
                model, positive, negative, trainer.table, s.labels, s.alpha, observed,
                s.energy_l2, s.generative, kept, s.grad_penalty, self.free, bool(self.summed),
            )  # fmt: skip

        loss, f_pos, f_neg = trainer.forward(compute)
        return trainer.apply(loss, {"f_data": f_pos, "f_samples": f_neg}, rates)
