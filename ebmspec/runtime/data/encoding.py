"""Data batches in model space, and the data statistics the init distributions read.

In: a raw batch from `datasets.Dataset` (reals as stored, discrete labels as int64 indices with
-1 = missing), the fitted transform pipelines and the variable table. Out: `{name: tensor}` as the
energy takes it (reals transformed, categoricals one-hot `[B, *shape, K]`, binaries 0/1 floats),
plus `{name: bool [B, *shape]}` masks of the observed label elements for variables with missing
entries. `data_stats` summarises one such batch for `uniform_data_range`, `normal_data` and
`data_frequency` (docs/design/ALGORITHMS.md 2.3: "of one data batch").
"""

from __future__ import annotations

import math

import torch

from ebmspec.runtime.data.transforms import apply_transforms
from ebmspec.runtime.model.ops import code_values, site_counts
from ebmspec.runtime.sampling.kernels.jump import label_codes, place_values, shift_key
from ebmspec.runtime.seeding import stream


def to_device(value: torch.Tensor, device) -> torch.Tensor:
    """A host tensor on `device`; to a GPU from pinned memory without blocking the host, so the
    copy of the next batch overlaps the kernels still queued."""
    if device is None or torch.device(device).type != "cuda":
        return value if device is None else value.to(device)
    return value.pin_memory().to(device, non_blocking=True)


def encode(variables: dict, raw: dict, pipelines: dict, generator, device=None):
    """Raw batch -> (model-space values, observed masks of discrete variables with missing
    labels). Missing elements get value 0 as a placeholder; the mask says which to trust."""
    transformed = apply_transforms(pipelines, raw, generator)
    values, observed = {}, {}
    for name, (kind, _shape, categories, _low, _high) in variables.items():
        if name not in transformed:
            continue
        value = transformed[name]
        if kind == "real":
            values[name] = to_device(value.to(dtype=torch.float32), device)
            continue
        value = value.to(dtype=torch.long)
        known = value >= 0
        if not bool(known.all()):  # on the host: no device sync per batch
            observed[name] = to_device(known, device)
        value = to_device(value.clamp_min(0), device)
        values[name] = code_values(value, kind, categories)
    return values, observed


REFERENCE_ROWS = 2000  # training inputs scored for paper 002's typicality / quantile tests


def test_split(variables: dict, dataset, pipelines: dict, seed: int) -> dict:
    """A dataset's test set in model space (random transform steps drawn from stream
    "test_noise" of `seed`, the same for training-time and `ebmspec eval` evaluations) plus
    `labels`: the integer codes of its discrete variables, -1 = missing; `ood`: the OOD sets that
    come from data (held-out classes' test rows, second datasets) in model space, by name."""
    generator = stream(seed, "test_noise")
    values, _ = encode(variables, dataset.test, pipelines, generator)
    labels = {
        n: t.long()
        for n, t in dataset.test.items()
        if n in variables and variables[n].kind != "real"
    }
    split = {**values, "labels": labels}
    for name, raw in getattr(dataset, "ood", {}).items():
        split.setdefault("ood", {})[name], _ = encode(variables, raw, pipelines, generator)
    # Training inputs for the OOD tests that compare with the training scores (paper 002).
    rows = next(iter(dataset.train.values())).shape[0]
    pick = torch.randperm(rows, generator=generator)[:REFERENCE_ROWS]
    reference = {n: v[pick] for n, v in dataset.train.items()}
    split["reference"], _ = encode(variables, reference, pipelines, generator)
    return split


def labels_of(variables: dict, values: dict) -> dict:
    """Integer codes [B, *shape] of the discrete variables among model-space `values`."""
    labels = {}
    for name, value in values.items():
        kind = variables[name].kind
        if kind == "categorical":
            labels[name] = value.argmax(-1)
        elif kind == "binary":
            labels[name] = value.round().long()
    return labels


def data_stats(variables: dict, values: dict, observed: dict, groups=()) -> dict:
    """Per-element min / max / mean / std of reals, label frequencies [*shape, K] of discrete
    variables (missing labels excluded; a site with no observed label falls back to uniform).
    `groups`: (reals, labels) pairs of `jump` blocks; each real variable also gets its mean per
    joint value of the labels (`shift_key(labels)`, [C, *shape]; a value no complete example has
    gets the overall mean)."""
    stats = {}
    for name, value in values.items():
        spec = variables[name]
        kind, shape = spec.kind, spec.shape
        if kind == "real":
            std = value.std(0).clamp_min(1e-6) if value.shape[0] > 1 else torch.ones(shape)
            stats[name] = {
                "min": value.amin(0).cpu(),
                "max": value.amax(0).cpu(),
                "mean": value.mean(0).cpu(),
                "std": std.cpu(),
            }
            continue
        one_hot = value if kind == "categorical" else torch.stack([1 - value, value], -1)
        known = observed.get(name)
        if known is not None:
            one_hot = one_hot * known.unsqueeze(-1)
        counts = one_hot.sum(0).cpu()
        empty = counts.sum(-1, keepdim=True) == 0
        counts = torch.where(empty, torch.ones_like(counts), counts)
        freq = counts / counts.sum(-1, keepdim=True)
        stats[name] = {"freq": freq}
    for reals, labels in groups:
        # Latent variables have no data: a jump over them shifts by m = 0 (no statistics).
        reals = [real for real in reals if real in values]
        if not reals or any(label not in values for label in labels):
            continue
        configs = math.prod(site_counts(variables, labels))
        radix = place_values(variables, labels)
        index = (label_codes(variables, labels, values).cpu() * radix).sum(1)
        complete = torch.ones(index.shape[0], dtype=torch.bool)
        for label in labels:
            if label in observed:
                complete &= observed[label].reshape(index.shape[0], -1).all(1).cpu()
        index = index[complete]
        seen = torch.bincount(index, minlength=configs).float()
        for real in reals:
            x = values[real][complete.to(values[real].device)].detach().cpu().float()
            sums = torch.zeros(configs, *x.shape[1:]).index_add_(0, index, x)
            share = seen.reshape(-1, *([1] * (x.dim() - 1)))
            means = torch.where(share > 0, sums / share.clamp_min(1), stats[real]["mean"])
            stats[real][shift_key(labels)] = means
    return stats
