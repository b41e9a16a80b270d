"""Denoising score matching (`dsm`, Vincent 2011; several noise levels as in Song & Ermon 2019).

In: a data batch (missing labels imputed first, as for pcd) and a generator for the noise. Out:
the DSM loss on the real variables, the discrete ones held at the data's values (so with labels
it fits p(x | y)):

    mean over examples of  sigma^2 / 2 * | d f / d x~ (x~) + (x~ - x) / sigma^2 |^2,
    x~ = x + sigma * eps,  eps ~ N(0, I),  sigma drawn per example from `sigmas`,

whose minimiser is the score of the data convolved with N(0, sigma^2 I) (with one level; the
sigma^2 weighting balances several levels, Song & Ermon's lambda(sigma) = sigma^2). No sampling.
"""

from __future__ import annotations

import torch

from ebmspec.runtime.training.objectives.base import Objective, imputed, label_term
from ebmspec.semantic.registry.signatures import Param as P
from ebmspec.semantic.registry.signatures import Signature

SIGNATURE = Signature(
    "dsm",
    (
        P("sigmas", "floats", (0.1,)),
        P("alpha", "nonneg_float", 0.0),
        P("label", "variable?", None),
    ),
    "denoising score matching on the real variables (labels held at the data's: p(x | y)): "
    "the score at x + sigma * eps regressed on -eps / sigma, sigma drawn per example from "
    "`sigmas` (one level or several, weighted sigma^2); `alpha` adds alpha * log p(y|x) (exact "
    "over the labels), which the score alone does not fit. No sampling",
)


def dsm_loss(
    model, positive: dict, variables: dict, sigmas, generator, energy_l2: float = 0.0,
    alpha: float = 0.0, labels=(), observed: dict | None = None, grad_penalty: float = 0.0,
):  # fmt: skip
    """The DSM loss (module docstring); `alpha` > 0 adds alpha * the exact label cross-entropy
    (as `ssm`'s: the score says nothing about how p splits between label values); `energy_l2`
    and `grad_penalty` add their terms at the noisy inputs, as every objective does. Returns
    (loss, mean f at the noisy inputs, mean 1/2 |score|^2 there)."""
    reals = [n for n, v in variables.items() if v.kind == "real"]
    batch = next(iter(positive.values())).shape[0]
    device = next(iter(positive.values())).device
    levels = torch.as_tensor(tuple(sigmas), dtype=torch.float32, device=device)
    pick = torch.randint(0, len(levels), (batch,), generator=generator, device=device)
    sigma = levels[pick]
    values, targets = dict(positive), {}
    for name in reals:
        x = positive[name]
        shape = (batch,) + (1,) * (x.dim() - 1)
        eps = torch.randn(x.shape, generator=generator, device=device)
        values[name] = (x + sigma.reshape(shape) * eps).detach().requires_grad_(True)
        targets[name] = -eps / sigma.reshape(shape)  # the score of N(x, sigma^2) at x~
    f = model(values)
    scores = torch.autograd.grad(
        f.sum(), [values[n] for n in reals], create_graph=True, materialize_grads=True
    )
    error = sum(
        (s - targets[n]).pow(2).reshape(batch, -1).sum(1)
        for n, s in zip(reals, scores, strict=True)
    )
    loss = (0.5 * sigma.pow(2) * error).mean()
    loss = loss + label_term(model, positive, variables, labels, observed, alpha)
    if energy_l2 > 0:
        loss = loss + energy_l2 * f.pow(2).mean()
    norm = 0.5 * sum(s.pow(2).reshape(batch, -1).sum(1) for s in scores)
    if grad_penalty > 0:
        loss = loss + grad_penalty * norm.mean()
    return loss, f.detach().mean(), norm.detach().mean()


class DsmObjective(Objective):
    name = "dsm"

    def step(self, trainer, positive: dict, observed: dict) -> dict | None:
        s = trainer.s
        positive = imputed(trainer, positive, observed)
        loss, f_data, norm = dsm_loss(
            trainer.model, positive, trainer.table, self.args["sigmas"], trainer.chain_gen,
            s.energy_l2, float(self.args["alpha"]), s.labels, observed, s.grad_penalty,
        )  # fmt: skip
        return trainer.apply(loss, {"f_data": f_data, "score_norm": norm}, [])
