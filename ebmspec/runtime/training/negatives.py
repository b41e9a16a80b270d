"""Training objectives: where negative samples come from, how missing labels are filled in, and
the loss whose gradient is the maximum-likelihood gradient.

In: the energy module, the sampler table (as `runtime.sampling.sampler_table` builds it), the
variable table and model-space data batches. Out: `Negatives` (a replay buffer of *all*
variables for `pcd`/`jem`, fresh short-run chains for `cd`), `impute` (paper 004, Eq. 8: missing
attributes drawn by a clamped chain on p(y_miss | x, y_obs)) and the losses:

    pcd / cd:  -(mean f(data) - mean f(negatives)) + energy_l2 (mean f+^2 + mean f-^2)
               + grad_penalty mean(1/2 |grad_x f(data)|^2)
    jem:       -alpha mean log p(y|x) - (mean logsumexp_y f(x, y) - mean f(x-, y-)), with y
               enumerated exactly and (x-, y-) from the joint chain (its x-marginal is p(x)),
               + the same energy_l2 and grad_penalty terms on its data term.
The objectives that draw no MCMC samples (ssm, nll, vera) are in runtime/sampling_free.py, the
label enumeration they share in runtime/labels.py.

Every random number comes from the explicit generator the trainer passes in, so a run resumed
from a checkpoint (buffer + generator states) continues bit for bit.
"""

from __future__ import annotations

import torch

from ebmspec.runtime.model.enumeration import configurations, label_scores
from ebmspec.runtime.sampling.capture import CapturedSweep
from ebmspec.runtime.sampling.kernels.base import Target
from ebmspec.runtime.sampling.schedule import (
    acceptance,
    build_schedule,
    initial_values,
    run_conditioned,
)


class Negatives:
    """Negative chains of one objective.

    persistent=True (pcd, jem): a buffer of `size` chains of every variable; each iteration
    draws `batch` distinct slots, re-initialises each with probability `reinit`, runs `steps`
    sweeps and writes x *and* y back (docs/design/ALGORITHMS.md 2.3 - the reference code lost y).
    persistent=False (cd): `batch` fresh chains from the init distributions every iteration.
    kept: variables the chains keep as drawn from their init distribution (no block moves them):
    with the labels kept, the chains sample p(x | y) for labels drawn from q0.
    capture: a torch.compile mode to run the sweeps as graphs in (runtime/capture.py; compiled on
    the first draw and reused), None for the eager loop.
    """

    def __init__(
        self,
        sampler: dict,
        variables: dict,
        steps: int,
        persistent: bool,
        size: int = 0,
        reinit: float = 0.0,
        kept=(),
        capture: str | None = None,
    ):
        self.sampler = sampler
        self.variables = variables
        self.steps = steps
        self.persistent = persistent
        self.size = size
        self.reinit = reinit
        self.kept = frozenset(kept)
        self.buffer: dict[str, torch.Tensor] | None = None
        self.schedule = build_schedule(sampler["blocks"], variables, self.kept)
        self.capture = capture
        self.captured: CapturedSweep | None = None

    def fresh(self, count: int, generator, stats, device) -> dict:
        return initial_values(
            self.sampler["inits"], self.variables, count, generator, stats, device
        )

    def start(self, generator, stats, device) -> None:
        """Fill the buffer from the init distributions (p0 for x, q0 for y)."""
        if self.persistent:
            self.buffer = self.fresh(self.size, generator, stats, device)

    def draw(self, model, batch: int, generator, stats, device):
        """`batch` negative samples after `steps` sweeps, and the chain state (diagnostics)."""
        if not self.persistent:
            values = self.fresh(batch, generator, stats, device)
            slots = None
        else:
            assert self.buffer is not None, "start() fills the buffer first"
            slots = torch.randperm(self.size, generator=generator, device=device)[:batch]
            values = {name: tensor[slots] for name, tensor in self.buffer.items()}
            if self.reinit > 0:
                renew = torch.rand(batch, generator=generator, device=device) < self.reinit
                fresh = self.fresh(batch, generator, stats, device)
                values = {
                    name: torch.where(
                        renew.reshape((batch,) + (1,) * (value.dim() - 1)), fresh[name], value
                    )
                    for name, value in values.items()
                }
        start = self.schedule.start(values)
        target = Target(model, self.variables, fixed=self.kept, stats=stats)
        if self.capture is None:
            state = self.schedule.run(start, target, generator, self.steps)
        else:
            if self.captured is None or self.captured.target.energy is not model:
                # One compilation for the run: the same model (trained in place), same shapes.
                self.captured = CapturedSweep(self.schedule, target, self.capture)
            state = self.captured.run(start, generator, self.steps)
        final = {name: value.detach() for name, value in state.point.values.items()}
        if slots is not None:
            for name, value in final.items():
                self.buffer[name][slots] = value
        return final, state

    def rates(self, state) -> list[torch.Tensor]:
        """Acceptance rate of each block in this draw (0-d tensors, still on the device)."""
        return [acceptance(kernel_state) for kernel_state in state.kernels]


def impute(
    model,
    sampler: dict,
    variables: dict,
    values: dict,
    observed: dict,
    steps: int,
    generator,
    stats,
) -> dict:
    """Fill missing label elements with one draw of a chain on p(y_miss | x, y_obs): observed
    elements and complete variables clamped, missing ones started from the init distribution,
    `steps` sweeps, not persistent (paper 004, Eq. 8; docs/design/ALGORITHMS.md 2.4)."""
    if not observed:
        return values
    batch = next(iter(values.values())).shape[0]
    device = next(iter(values.values())).device
    condition = {
        name: (value, observed[name]) if name in observed else value
        for name, value in values.items()
    }
    state, _ = run_conditioned(
        model, variables, sampler, batch, generator, steps, condition, stats, device
    )
    return {name: value.detach() for name, value in state.point.values.items()}


def _stack(first: dict, second: dict) -> dict:
    return {name: torch.cat([first[name], second[name]]) for name in first}


def contrastive_loss(
    model, positive: dict, negative: dict, variables: dict, energy_l2=0.0, grad_penalty=0.0
):
    """The pcd / cd loss and its parts (f on data, f on samples) as 0-d tensors."""
    positive, reals = penalty_inputs(positive, variables, grad_penalty)
    count = next(iter(positive.values())).shape[0]
    # One pass over data and samples together: one batched matmul beats two half-size ones.
    f = model(_stack(positive, negative))
    f_pos, f_neg = f[:count], f[count:]
    loss = -(f_pos.mean() - f_neg.mean())
    if energy_l2 > 0:
        loss = loss + energy_l2 * (f_pos.pow(2).mean() + f_neg.pow(2).mean())
    if reals:
        loss = loss + grad_penalty * gradient_penalty(f_pos, positive, reals)
    return loss, f_pos.detach().mean(), f_neg.detach().mean()


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
    grads = torch.autograd.grad(f.sum(), [inputs[n] for n in reals], create_graph=True)
    return 0.5 * sum(g.pow(2).reshape(g.shape[0], -1).sum(1) for g in grads).mean()


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
):
    """alpha * CE(p(y|x)) - (mean log p~(x) on data - mean f on joint samples), with
    log p~(x) = logsumexp_y f(x, y) over every joint value of the `labels`. Examples with a
    missing label element contribute to the generative term only.

    generative = "conditional": the generative term is log p(x | y) instead, -(mean f(x, y) on
    data - mean f on chains that kept their labels, `negative`): f(x, y) is the logsumexp over
    the configurations that agree with the observed label elements (f(x, y) itself when all are
    observed). "both": log p(x) with the joint chains `negative` plus log p(x | y) with the
    label-keeping chains `kept_negative`. `grad_penalty` adds grad_penalty * mean 1/2 |grad_x of
    the data term|^2 (paper 001's penalty, as pcd's). Returns (loss, mean f on data, mean f on
    negatives)."""
    count = next(iter(positive.values())).shape[0]
    device = next(iter(positive.values())).device
    configs = configurations(variables, labels, device)
    options = next(iter(configs.values())).shape[0]
    # The label-free part (dSprites: the CNN h(x)) runs once per example, with its graph.
    keep_graph = {
        n: v.detach().requires_grad_(True) if v.is_floating_point() and n not in labels else v
        for n, v in positive.items()
    }
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
