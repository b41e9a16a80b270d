"""Label enumeration shared by the objectives and the evaluation: every joint value of the
discrete variables, f at each of them, log p(y | x), log p~(x) with the labels marginalised, the
entropy of p(y | x), and which training rows keep their labels in a semi-supervised run.

In: an energy module, batched values `{name: [B, ...]}` (categoricals one-hot) and the variable
table. Out: tensors. The label-free part of a network runs once per example (`label_scores`).
"""

from __future__ import annotations

import math

import torch

from ebmspec.runtime.model.ops import code_values, joint_codes, site_counts


def configurations(variables: dict, names, device=None) -> dict[str, torch.Tensor]:
    """Every joint value of the discrete variables `names` in model space: {name: [C, ...]},
    the last variable's last element varying fastest."""
    return _in_model_space(variables, names, joint_codes(variables, names, device))


def site_configurations(variables: dict, names, device=None) -> tuple[dict, torch.Tensor]:
    """The base value of the discrete variables `names` (every site at code 0) and each value
    that changes one site: ({name: [C, ...]}, [C] the site each row changes, -1 for the base),
    C = 1 + sum over sites of (K - 1). What `free_energy` scores when f is separable in them."""
    counts = site_counts(variables, names)
    rows = 1 + sum(k - 1 for k in counts)
    codes = torch.zeros(rows, len(counts), dtype=torch.long)
    site_of = torch.full((rows,), -1, dtype=torch.long)
    row = 1
    for site, count in enumerate(counts):
        codes[row : row + count - 1, site] = torch.arange(1, count)
        site_of[row : row + count - 1] = site
        row += count - 1
    return _in_model_space(variables, names, codes.to(device)), site_of.to(device)


def _in_model_space(variables: dict, names, table: torch.Tensor) -> dict[str, torch.Tensor]:
    """[C, sites] integer codes of `names` -> {name: [C, *shape(, K)]} model-space values."""
    result, column = {}, 0
    for name in names:
        spec = variables[name]
        sites = math.prod(spec.shape)
        part = table[:, column : column + sites].reshape(-1, *spec.shape)
        column += sites
        result[name] = code_values(part, spec.kind, spec.categories or 2)
    return result


def label_scores(model, values: dict, variables: dict, labels) -> torch.Tensor:
    """[B, C] f at every joint value of the discrete `labels` (in `configurations` order), the
    other variables as in `values`. The label-free part of the network runs once per example
    (with its graph when autograd is on, so a loss reaches all parameters) and only the rest per
    label value."""
    device = next(iter(values.values())).device
    return scores_at(model, values, configurations(variables, labels, device))


def scores_at(model, values: dict, configs: dict) -> torch.Tensor:
    """[B, C] f at each of the C rows of `configs` ({name: [C, ...]} model-space values of some
    variables), the others as in `values` (their part of the network evaluated once)."""
    count = next(iter(values.values())).shape[0]
    options = next(iter(configs.values())).shape[0]
    rest = {n: v for n, v in values.items() if n not in configs}
    if hasattr(model, "specialize"):
        # The specialised energy holds the rest's part of the network (and tiles it itself);
        # it does not read the rest's values, so they are not copied per option.
        energy, expanded = model.specialize(rest, fold=True, train=True), {}
    else:
        energy = model
        expanded = {n: v.repeat(options, *([1] * (v.dim() - 1))) for n, v in rest.items()}
    dtype = next((v.dtype for v in values.values() if v.is_floating_point()), torch.float32)
    for name, value in configs.items():
        expanded[name] = value.to(dtype).repeat_interleave(count, 0)
    return energy(expanded).reshape(options, count).t()


def free_energy(
    model, values: dict, variables: dict, labels, latents, separable: bool
) -> torch.Tensor:
    """[B, C] log sum_h exp f(x, y, h) over every joint value h of the discrete `latents`, at
    each of the C joint values y of the discrete `labels` (`configurations` order; C = 1 without
    labels), the other variables as in `values`. `separable` (`energy_facts.separable`: f affine
    in the latents' codes): f(x, y, h0) + sum over latent sites of logsumexp_k (f with that site
    at k - f at h0), 1 + sum (K - 1) evaluations per y; otherwise every joint value of h."""
    count = next(iter(values.values())).shape[0]
    device = next(iter(values.values())).device
    if separable:
        hidden, site_of = site_configurations(variables, latents, device)
    else:
        hidden = configurations(variables, latents, device)
    inner = next(iter(hidden.values())).shape[0]
    configs = dict(hidden)
    outer = 1
    if labels:
        shown = configurations(variables, labels, device)
        outer = next(iter(shown.values())).shape[0]
        configs = {n: v.repeat(outer, *([1] * (v.dim() - 1))) for n, v in hidden.items()}
        configs.update({n: v.repeat_interleave(inner, 0) for n, v in shown.items()})
    f = scores_at(model, values, configs).reshape(count, outer, inner)
    if not separable:
        return torch.logsumexp(f, -1)
    sites = int(site_of.max()) + 1 if inner > 1 else 0
    if sites == 0:
        return f[..., 0]
    # Row r > 0 changes site site_of[r] to value k = its rank among that site's rows + 1.
    widest = int(torch.bincount(site_of[1:]).max()) + 1
    first = torch.searchsorted(site_of[1:].contiguous(), torch.arange(sites, device=device))
    slot = torch.arange(inner - 1, device=device) - first[site_of[1:]] + 1
    padded = torch.full((count, outer, sites * widest), -torch.inf, device=device, dtype=f.dtype)
    padded[..., torch.arange(sites, device=device) * widest] = 0.0  # the base value of each site
    change = f[..., 1:] - f[..., :1]
    padded = padded.index_copy(-1, site_of[1:] * widest + slot, change)
    return f[..., 0] + torch.logsumexp(padded.reshape(count, outer, sites, widest), -1).sum(-1)


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


def marginal_energy(model, values: dict, variables: dict, labels) -> torch.Tensor:
    """log p~(x) = logsumexp over every joint value of the discrete `labels` of f(x, y) ([B]);
    f itself when there are none."""
    if not labels:
        return model(values)
    return torch.logsumexp(label_scores(model, values, variables, labels), 1)


def label_entropy(model, values: dict, variables: dict, labels) -> torch.Tensor:
    """[B] the entropy of p(labels | the rest), by enumerating every joint value of `labels`."""
    log_p = torch.log_softmax(label_scores(model, values, variables, labels), 1)
    return -(log_p.exp() * log_p).sum(1)


def labelled_rows(train: dict, names, per_class: int, generator) -> torch.Tensor:
    """The training rows whose labels a semi-supervised run keeps: `per_class` of each class (a
    class = one joint value of the label fields `names`; fewer when a class has fewer rows),
    chosen with `generator`, in increasing order."""
    rows = next(iter(train.values())).shape[0]
    codes = torch.cat([train[n].reshape(rows, -1).long() for n in names], 1)
    _, classes = torch.unique(codes, dim=0, return_inverse=True)
    order = torch.randperm(rows, generator=generator)
    # rank of each row within its class, in the shuffled order
    shuffled = classes[order]
    keep = torch.zeros(rows, dtype=torch.bool)
    for value in torch.unique(shuffled).tolist():
        members = order[shuffled == value]
        keep[members[:per_class]] = True
    return keep.nonzero().flatten()


class MarginalEnergy:
    """log p~(rest) = log sum over every joint value of the discrete `labels` of f: an energy of
    the other variables, which collapsed negative chains sample (passes/collapse.py). The part of
    the network that reads no label runs once per chain, through the model's cached split for
    moves of the labels (`EnergyModel.split`), and the head once per joint value; `model` is
    kept for identity checks (a captured sweep is built for one model)."""

    def __init__(self, model, variables: dict, labels) -> None:
        self.model = model
        self.variables = variables
        self.labels = tuple(labels)
        split = getattr(model, "split", None)
        self.parts = split(self.labels) if split is not None else None
        # Listed once, here, outside any traced sweep (capture.py): a tensor made while tracing
        # must not outlive the trace.
        device = next(model.parameters()).device if hasattr(model, "parameters") else None
        self.configs = configurations(variables, self.labels, device)

    def __call__(self, values: dict) -> torch.Tensor:
        rest = {n: v for n, v in values.items() if n not in self.labels}
        if self.parts is None:
            return torch.logsumexp(label_scores(self.model, rest, self.variables, self.labels), 1)
        reference = next(iter(rest.values()))
        count = reference.shape[0]
        options = next(iter(self.configs.values())).shape[0]
        statics = self.parts.statics(rest)
        tiled = tuple(s.repeat(options, *([1] * (s.dim() - 1))) for s in statics)
        dtype = reference.dtype if reference.is_floating_point() else torch.float32
        moving = {n: c.to(dtype).repeat_interleave(count, 0) for n, c in self.configs.items()}
        f = self.parts.head(tiled, moving).reshape(options, count).t()
        return torch.logsumexp(f, 1)
