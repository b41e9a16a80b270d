"""Objectives that draw no MCMC samples: sliced score matching (`ssm`), exact likelihood (`nll`)
and VERA's energy step (`vera`; its generator is in runtime/vera.py).

In: the energy module, model-space data batches, the variable table, a generator. Out: the loss
and its parts, whose gradient trains the energy.
"""

from __future__ import annotations

import torch

from ebmspec.runtime.model.enumeration import (
    configurations,
    label_log_likelihood,
    marginal_energy,
)
from ebmspec.runtime.training.negatives import gradient_penalty, penalty_inputs


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
    scores = torch.autograd.grad(f.sum(), leaves, create_graph=True)
    norm = 0.5 * sum(s.pow(2).reshape(count, -1).sum(1) for s in scores)
    trace = torch.zeros_like(norm)
    for v in directions:
        along = sum(
            (v[n] * s).reshape(count, -1).sum(1) for n, s in zip(reals, scores, strict=True)
        )
        # Examples are independent, so the gradient of the sum is each example's H v.
        hessian_v = torch.autograd.grad(along.sum(), leaves, create_graph=True)
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
    if alpha > 0:
        log_py = label_log_likelihood(model, positive, variables, labels, observed or {})
        if log_py.numel():
            loss = loss + alpha * (-log_py.mean())
    if energy_l2 > 0:
        loss = loss + energy_l2 * f.pow(2).mean()
    if grad_penalty > 0:
        loss = loss + grad_penalty * norm.mean()
    return loss, f.detach().mean(), norm.detach().mean(), trace.detach().mean()


def nll_loss(model, positive: dict, variables: dict, flow: bool, energy_l2=0.0, grad_penalty=0.0):
    """Exact negative log-likelihood. `flow`: f is a normalised log-density (`ir.flow_density`),
    so the loss is -mean f(data). Otherwise every variable is discrete and enumerable:
    -(mean f(data) - log Z), log Z the logsumexp of f over every joint value. `energy_l2` and
    `grad_penalty` (real variables) add their terms on the data, as for every objective.
    Returns (loss, {"f_data": mean f on data[, "log_z": log Z]})."""
    positive, reals = penalty_inputs(positive, variables, grad_penalty)
    f = model(positive)
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


def vera_energy_loss(
    model,
    positive: dict,
    negative: dict,
    variables: dict,
    alpha: float = 0.0,
    labels=(),
    observed: dict | None = None,
    energy_l2: float = 0.0,
    grad_penalty: float = 0.0,
):
    """VERA's energy step (paper 001; docs/design/ALGORITHMS.md 4.2): -(mean F(data) - mean
    F(x_g)) + grad_penalty * mean 1/2 |grad_x F(data)|^2 + energy_l2 (mean F+^2 + mean F-^2)
    [+ alpha * the exact label cross-entropy], F = log p~(x) marginalised over every discrete
    variable, x_g the generator's samples (`negative`, real variables only, detached).
    Returns (loss, mean F on data, mean F on samples)."""
    hidden = tuple(n for n, v in variables.items() if v.kind != "real")
    data = {n: v for n, v in positive.items() if n not in hidden}
    data, reals = penalty_inputs(data, variables, grad_penalty)
    f_pos = marginal_energy(model, data, variables, hidden)
    f_neg = marginal_energy(model, negative, variables, hidden)
    loss = -(f_pos.mean() - f_neg.mean())
    if energy_l2 > 0:
        loss = loss + energy_l2 * (f_pos.pow(2).mean() + f_neg.pow(2).mean())
    if grad_penalty > 0:
        loss = loss + grad_penalty * gradient_penalty(f_pos, data, reals)
    if alpha > 0 and labels:
        log_py = label_log_likelihood(model, positive, variables, labels, observed or {})
        if log_py.numel():
            loss = loss + alpha * (-log_py.mean())
    return loss, f_pos.detach().mean(), f_neg.detach().mean()
