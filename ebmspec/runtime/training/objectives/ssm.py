"""Sliced score matching (`ssm`, paper 003): fit the score of the real variables, no sampling.

In: a data batch (missing labels imputed first, as for pcd) and a generator for the noise and
the projections. Out: the SSM-VR loss (Song et al. 2019; docs/design/ALGORITHMS.md 5.1) on the real
variables with the discrete ones held at the data's values (so with labels it fits p(x | y)), and
its parts: the score's squared norm and the sliced trace term.
"""

from __future__ import annotations

import torch

from ebmspec.runtime.training.objectives.base import Objective, imputed, label_term
from ebmspec.semantic.registry.signatures import Param as P
from ebmspec.semantic.registry.signatures import Signature

SIGNATURE = Signature(
    "ssm",
    (
        P("projections", "posint", 1),
        P("noise", "nonneg_float", 0.1),
        P("alpha", "nonneg_float", 0.0),
        P("label", "variable?", None),
    ),
    "sliced score matching with variance reduction on the real variables (labels held at "
    "the data's: p(x | y)), inputs + N(0, noise^2); `alpha` adds alpha * log p(y|x) (exact "
    "over the labels). No sampling",
)


def rademacher(shape, generator, device=None) -> torch.Tensor:
    """Independent +-1 entries, each sign with probability 1/2."""
    return torch.randint(0, 2, shape, generator=generator, device=device).float() * 2 - 1


def score_terms(model, values: dict, reals, directions: list[dict]):
    """Per example: f, 1/2 |s|^2 and the mean over `directions` v of v^T (ds/dx) v, where
    s = df/dx over the real variables `reals` (`values[name]` must require grad). The last is the
    sliced estimate of tr(ds/dx): its mean over v is the trace exactly when the v are Rademacher
    (E[v_i v_j] = delta_ij), and over all sign vectors it is the trace itself. Differentiable
    (double backpropagation), so its gradient trains f."""
    f = model(values)
    leaves = [values[n] for n in reals]
    count = f.shape[0]
    # A real variable f does not read has score 0 (and so has its Hessian).
    scores = torch.autograd.grad(f.sum(), leaves, create_graph=True, materialize_grads=True)
    norm = 0.5 * sum(s.pow(2).reshape(count, -1).sum(1) for s in scores)
    trace = torch.zeros_like(norm)
    for v in directions:
        along = sum(
            (v[n] * s).reshape(count, -1).sum(1) for n, s in zip(reals, scores, strict=True)
        )
        # Examples are independent, so the gradient of the sum is each example's H v.
        if not along.requires_grad:  # f is affine in the reals (or ignores them)
            continue
        hessian_v = torch.autograd.grad(
            along.sum(), leaves, create_graph=True, materialize_grads=True
        )
        trace = trace + sum(
            (v[n] * h).reshape(count, -1).sum(1) for n, h in zip(reals, hessian_v, strict=True)
        )
    return f, norm, trace / len(directions)


def ssm_loss(
    model,
    positive: dict,
    variables: dict,
    generator,
    projections: int = 1,
    noise: float = 0.0,
    alpha: float = 0.0,
    labels=(),
    observed: dict | None = None,
    energy_l2: float = 0.0,
    grad_penalty: float = 0.0,
):
    """Sliced score matching with variance reduction (SSM-VR, Song et al. 2019; paper 003;
    docs/design/ALGORITHMS.md 5.1) on the real variables, the discrete ones held at the data's
    values (so with labels it fits p(x | y)):

        mean over examples of 1/2 |s(x)|^2 + v^T (ds/dx) v,   s = df/dx,  v Rademacher,

    averaged over `projections` v; its expectation is Hyvarinen's E[1/2 |s|^2 + tr(ds/dx)]. The
    inputs get N(0, noise^2) first (paper 003's sigma). `alpha` adds alpha * the exact label
    cross-entropy (paper 003's supervised variant); `energy_l2` adds energy_l2 * mean f^2 and
    `grad_penalty` grad_penalty * mean 1/2 |s|^2 (the first term again, at the same inputs: every
    objective honours both settings). No sampling, so no negatives.
    Returns (loss, mean f on data, mean 1/2 |s|^2, mean trace term)."""
    reals = [n for n, v in variables.items() if v.kind == "real"]
    values = dict(positive)
    for name in reals:
        x = positive[name]
        if noise > 0:
            x = x + noise * torch.randn(x.shape, generator=generator, device=x.device)
        values[name] = x.detach().requires_grad_(True)
    directions = [
        {n: rademacher(values[n].shape, generator, values[n].device) for n in reals}
        for _ in range(projections)
    ]
    f, norm, trace = score_terms(model, values, reals, directions)
    loss = (norm + trace).mean()
    loss = loss + label_term(model, positive, variables, labels, observed, alpha)
    if energy_l2 > 0:
        loss = loss + energy_l2 * f.pow(2).mean()
    if grad_penalty > 0:
        loss = loss + grad_penalty * norm.mean()
    return loss, f.detach().mean(), norm.detach().mean(), trace.detach().mean()


class SsmObjective(Objective):
    name = "ssm"

    def step(self, trainer, positive: dict, observed: dict) -> dict | None:
        s = trainer.s
        positive = imputed(trainer, positive, observed)
        loss, f_pos, norm, trace = ssm_loss(
            trainer.model, positive, trainer.table, trainer.chain_gen, s.projections,
            s.ssm_noise, s.alpha, s.labels, observed, s.energy_l2, s.grad_penalty,
        )  # fmt: skip
        return trainer.apply(loss, {"f_data": f_pos, "score_norm": norm, "score_trace": trace}, [])
