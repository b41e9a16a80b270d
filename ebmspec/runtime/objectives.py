"""Training objectives: where negative samples come from, how missing labels are filled in, and
the loss whose gradient is the maximum-likelihood gradient.

In: the energy module, the sampler table (as `runtime.sampling.sampler_table` builds it), the
variable table and model-space data batches. Out: `Negatives` (a replay buffer of *all*
variables for `pcd`/`jem`, fresh short-run chains for `cd`), `impute` (paper 004, Eq. 8: missing
attributes drawn by a clamped chain on p(y_miss | x, y_obs)) and the losses:

    pcd / cd:  -(mean f(data) - mean f(negatives)) + energy_l2 (mean f+^2 + mean f-^2)
               + grad_penalty mean(1/2 |grad_x f(data)|^2)
    jem:       -alpha mean log p(y|x) - (mean logsumexp_y f(x, y) - mean f(x-, y-)), with y
               enumerated exactly and (x-, y-) from the joint chain (its x-marginal is p(x)).
    ssm:       mean 1/2 |grad_x f|^2 + v^T (d grad_x f / dx) v (sliced score matching, no chains)
               [+ alpha * the label cross-entropy].
    nll:       -mean log p(data), exact: a normalised flow energy, or log Z by enumeration.
    vera:      -(mean log p~(x) on data - on a generator's samples) [+ alpha CE]; the generator
               and its entropy estimate are in runtime/vera.py.

Every random number comes from the explicit generator the trainer passes in, so a run resumed
from a checkpoint (buffer + generator states) continues bit for bit.
"""

from __future__ import annotations

import itertools
import math

import torch
import torch.nn.functional as F

from ebmspec.runtime.kernels.base import Target
from ebmspec.runtime.schedule import acceptance, build_schedule, initial_values, run_conditioned


class Negatives:
    """Negative chains of one objective.

    persistent=True (pcd, jem): a buffer of `size` chains of every variable; each iteration
    draws `batch` distinct slots, re-initialises each with probability `reinit`, runs `steps`
    sweeps and writes x *and* y back (docs/design/ALGORITHMS.md 2.3 - the reference code lost y).
    persistent=False (cd): `batch` fresh chains from the init distributions every iteration.
    kept: variables the chains keep as drawn from their init distribution (no block moves them):
    with the labels kept, the chains sample p(x | y) for labels drawn from q0.
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
        target = Target(model, self.variables, fixed=self.kept, stats=stats)
        state = self.schedule.run(self.schedule.start(values), target, generator, self.steps)
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
    reals = [n for n, v in variables.items() if v[0] == "real"] if grad_penalty > 0 else []
    if reals:
        positive = {
            n: v.detach().requires_grad_(True) if n in reals else v for n, v in positive.items()
        }
    count = next(iter(positive.values())).shape[0]
    # One pass over data and samples together: one batched matmul beats two half-size ones.
    f = model(_stack(positive, negative))
    f_pos, f_neg = f[:count], f[count:]
    loss = -(f_pos.mean() - f_neg.mean())
    if energy_l2 > 0:
        loss = loss + energy_l2 * (f_pos.pow(2).mean() + f_neg.pow(2).mean())
    if reals:
        grads = torch.autograd.grad(f_pos.sum(), [positive[n] for n in reals], create_graph=True)
        norm = sum(g.pow(2).reshape(count, -1).sum(1) for g in grads)
        loss = loss + grad_penalty * 0.5 * norm.mean()
    return loss, f_pos.detach().mean(), f_neg.detach().mean()


def configurations(variables: dict, names, device=None) -> dict[str, torch.Tensor]:
    """Every joint value of the discrete variables `names` in model space: {name: [C, ...]},
    the last variable's last element varying fastest."""
    codes, widths = [], []
    for name in names:
        spec = variables[name]
        kind, shape, categories = spec.kind, spec.shape, spec.categories
        width = categories if kind == "categorical" else 2
        sites = math.prod(shape)
        widths.append((name, kind, shape, width, sites))
        codes.extend([range(width)] * sites)
    table = torch.tensor(list(itertools.product(*codes)), device=device).reshape(-1, len(codes))
    result, column = {}, 0
    for name, kind, shape, width, sites in widths:
        part = table[:, column : column + sites].reshape(-1, *shape)
        column += sites
        result[name] = F.one_hot(part, width).float() if kind == "categorical" else part.float()
    return result


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
):
    """alpha * CE(p(y|x)) - (mean log p~(x) on data - mean f on joint samples), with
    log p~(x) = logsumexp_y f(x, y) over every joint value of the `labels`. Examples with a
    missing label element contribute to the generative term only.

    generative = "conditional": the generative term is log p(x | y) instead, -(mean f(x, y) on
    data - mean f on chains that kept their labels, `negative`): f(x, y) is the logsumexp over
    the configurations that agree with the observed label elements (f(x, y) itself when all are
    observed). "both": log p(x) with the joint chains `negative` plus log p(x | y) with the
    label-keeping chains `kept_negative`. Returns (loss, mean f on data, mean f on negatives)."""
    count = next(iter(positive.values())).shape[0]
    device = next(iter(positive.values())).device
    configs = configurations(variables, labels, device)
    options = next(iter(configs.values())).shape[0]
    rest = {n: v for n, v in positive.items() if n not in labels}
    # The label-free part (dSprites: the CNN h(x)) runs once per example, with its graph, and is
    # tiled over the configurations: row c * count + b holds example b with configuration c.
    keep_graph = {
        n: v.detach().requires_grad_(True) if v.is_floating_point() else v for n, v in rest.items()
    }
    energy = model.specialize(keep_graph, fold=True) if hasattr(model, "specialize") else model
    expanded = {n: v.repeat(options, *([1] * (v.dim() - 1))) for n, v in rest.items()}
    for name, value in configs.items():
        expanded[name] = value.repeat_interleave(count, 0)
    f_all = energy(expanded).reshape(options, count).t()
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
    return loss, f_pos.detach().mean(), f_neg.detach().mean()


def label_scores(model, values: dict, variables: dict, labels) -> torch.Tensor:
    """[B, C] f at every joint value of the discrete `labels` (in `configurations` order), the
    other variables as in `values`. As in `jem_loss`, the label-free part of the network runs
    once per example (with its graph) and only the rest per label value."""
    count = next(iter(values.values())).shape[0]
    device = next(iter(values.values())).device
    configs = configurations(variables, labels, device)
    options = next(iter(configs.values())).shape[0]
    rest = {n: v for n, v in values.items() if n not in labels}
    energy = model.specialize(rest, fold=True) if hasattr(model, "specialize") else model
    expanded = {n: v.repeat(options, *([1] * (v.dim() - 1))) for n, v in rest.items()}
    dtype = next((v.dtype for v in values.values() if v.is_floating_point()), torch.float32)
    for name, value in configs.items():
        expanded[name] = value.to(dtype).repeat_interleave(count, 0)
    return energy(expanded).reshape(options, count).t()


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


def label_log_likelihood(model, positive: dict, variables: dict, labels, observed: dict):
    """[n] log p(y | rest) of the examples whose `labels` are all observed, by enumerating every
    joint value of the labels."""
    count = next(iter(positive.values())).shape[0]
    device = next(iter(positive.values())).device
    configs = configurations(variables, labels, device)
    options = next(iter(configs.values())).shape[0]
    f_all = label_scores(model, positive, variables, labels)
    match = torch.ones(count, options, dtype=torch.bool, device=device)
    keep = torch.ones(count, dtype=torch.bool, device=device)
    for name in labels:
        width = variables[name].categories if variables[name].kind == "categorical" else 1
        true = positive[name].reshape(count, 1, -1, width)
        match &= (configs[name].reshape(1, options, -1, width) == true).all(-1).all(-1)
        if name in observed:
            keep &= observed[name].reshape(count, -1).all(1)
    log_py = (f_all * match).sum(1) - torch.logsumexp(f_all, 1)
    return log_py[keep]


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
):
    """Sliced score matching with variance reduction (SSM-VR, Song et al. 2019; paper 003;
    docs/design/ALGORITHMS.md 5.1) on the real variables, the discrete ones held at the data's
    values (so with labels it fits p(x | y)):

        mean over examples of 1/2 |s(x)|^2 + v^T (ds/dx) v,   s = df/dx,  v Rademacher,

    averaged over `projections` v; its expectation is Hyvarinen's E[1/2 |s|^2 + tr(ds/dx)]. The
    inputs get N(0, noise^2) first (paper 003's sigma). `alpha` adds alpha * the exact label
    cross-entropy (paper 003's supervised variant). No sampling, so no negatives.
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
    return loss, f.detach().mean(), norm.detach().mean(), trace.detach().mean()


def nll_loss(model, positive: dict, variables: dict, flow: bool):
    """Exact negative log-likelihood. `flow`: f is a normalised log-density (`ir.flow_density`),
    so the loss is -mean f(data). Otherwise every variable is discrete and enumerable:
    -(mean f(data) - log Z), log Z the logsumexp of f over every joint value.
    Returns (loss, {"f_data": mean f on data[, "log_z": log Z]})."""
    f = model(positive)
    if flow:
        return -f.mean(), {"f_data": f.detach().mean()}
    device = f.device
    configs = configurations(variables, list(variables), device)
    log_z = torch.logsumexp(model(configs), 0)
    return -(f.mean() - log_z), {"f_data": f.detach().mean(), "log_z": log_z.detach()}


def marginal_energy(model, values: dict, variables: dict, labels) -> torch.Tensor:
    """log p~(x) = logsumexp over every joint value of the discrete `labels` of f(x, y) ([B]);
    f itself when there are none."""
    if not labels:
        return model(values)
    return torch.logsumexp(label_scores(model, values, variables, labels), 1)


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
    reals = [n for n, v in variables.items() if v.kind == "real"]
    data = {n: v for n, v in positive.items() if n not in hidden}
    if grad_penalty > 0:
        data = {n: v.detach().requires_grad_(True) if n in reals else v for n, v in data.items()}
    f_pos = marginal_energy(model, data, variables, hidden)
    f_neg = marginal_energy(model, negative, variables, hidden)
    loss = -(f_pos.mean() - f_neg.mean())
    if energy_l2 > 0:
        loss = loss + energy_l2 * (f_pos.pow(2).mean() + f_neg.pow(2).mean())
    if grad_penalty > 0:
        grads = torch.autograd.grad(f_pos.sum(), [data[n] for n in reals], create_graph=True)
        norm = sum(g.pow(2).reshape(g.shape[0], -1).sum(1) for g in grads)
        loss = loss + grad_penalty * 0.5 * norm.mean()
    if alpha > 0 and labels:
        log_py = label_log_likelihood(model, positive, variables, labels, observed or {})
        if log_py.numel():
            loss = loss + alpha * (-log_py.mean())
    return loss, f_pos.detach().mean(), f_neg.detach().mean()


def label_entropy(model, values: dict, variables: dict, labels) -> torch.Tensor:
    """[B] the entropy of p(labels | the rest), by enumerating every joint value of `labels`."""
    log_p = torch.log_softmax(label_scores(model, values, variables, labels), 1)
    return -(log_p.exp() * log_p).sum(1)


def labelled_rows(train: dict, names, per_class: int, seed: int) -> torch.Tensor:
    """The training rows whose labels a semi-supervised run keeps: `per_class` of each class (a
    class = one joint value of the label fields `names`; fewer when a class has fewer rows),
    chosen by a generator seeded `seed`, in increasing order."""
    rows = next(iter(train.values())).shape[0]
    codes = torch.cat([train[n].reshape(rows, -1).long() for n in names], 1)
    _, classes = torch.unique(codes, dim=0, return_inverse=True)
    generator = torch.Generator().manual_seed(seed)
    order = torch.randperm(rows, generator=generator)
    # rank of each row within its class, in the shuffled order
    shuffled = classes[order]
    keep = torch.zeros(rows, dtype=torch.bool)
    for value in torch.unique(shuffled).tolist():
        members = order[shuffled == value]
        keep[members[:per_class]] = True
    return keep.nonzero().flatten()
