"""Label enumeration shared by the objectives and the evaluation: every joint value of the
discrete variables, f at each of them, log p(y | x), log p~(x) with the labels marginalised, the
entropy of p(y | x), and which training rows keep their labels in a semi-supervised run.

In: an energy module, batched values `{name: [B, ...]}` (categoricals one-hot) and the variable
table. Out: tensors. The label-free part of a network runs once per example (`label_scores`).
"""

from __future__ import annotations

import math

import torch

from ebmspec.runtime.model.ops import code_values, joint_codes


def configurations(variables: dict, names, device=None) -> dict[str, torch.Tensor]:
    """Every joint value of the discrete variables `names` in model space: {name: [C, ...]},
    the last variable's last element varying fastest."""
    widths = []
    for name in names:
        spec = variables[name]
        kind, shape, categories = spec.kind, spec.shape, spec.categories
        width = categories if kind == "categorical" else 2
        widths.append((name, kind, shape, width, math.prod(shape)))
    table = joint_codes(variables, names, device)
    result, column = {}, 0
    for name, kind, shape, width, sites in widths:
        part = table[:, column : column + sites].reshape(-1, *shape)
        column += sites
        result[name] = code_values(part, kind, width)
    return result


def label_scores(model, values: dict, variables: dict, labels) -> torch.Tensor:
    """[B, C] f at every joint value of the discrete `labels` (in `configurations` order), the
    other variables as in `values`. The label-free part of the network runs once per example
    (with its graph when autograd is on, so a loss reaches all parameters) and only the rest per
    label value."""
    count = next(iter(values.values())).shape[0]
    device = next(iter(values.values())).device
    configs = configurations(variables, labels, device)
    options = next(iter(configs.values())).shape[0]
    rest = {n: v for n, v in values.items() if n not in labels}
    energy = (
        model.specialize(rest, fold=True, train=True) if hasattr(model, "specialize") else model
    )
    expanded = {n: v.repeat(options, *([1] * (v.dim() - 1))) for n, v in rest.items()}
    dtype = next((v.dtype for v in values.values() if v.is_floating_point()), torch.float32)
    for name, value in configs.items():
        expanded[name] = value.to(dtype).repeat_interleave(count, 0)
    return energy(expanded).reshape(options, count).t()


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
