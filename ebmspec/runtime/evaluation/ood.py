"""Out-of-distribution detection: scores, generated OOD sets and the papers' metrics.

In: a model, its program, the test split in model space and the spec's `ood` report lines
(`ood auroc(score, against)`, `ood auc_pr(score, against)`). Out: one row per (metric, score, OOD
set): the metric's value on the in-distribution test inputs against an equal number of OOD inputs.

Scores (higher = more in-distribution):
* `px`: log p~(x), every discrete variable marginalised exactly (for a normalised flow energy,
  the exact log-likelihood);
* `py`: max_y p(y | x) over the joint values of the discrete variables;
* `pxgrad`: -|grad_x log p~(x)| (JEM's approximate-mass score: data sits where the density is flat).

OOD sets, in the data's transformed space, drawn with a seeded generator, as many as the test
inputs: `noise` (half N(mean, std^2) with the test set's per-element mean and std, half uniform
between its per-element min and max: paper 003's half-Gaussian, half-uniform noise), `constant`
(one uniform value in the test set's range per input, broadcast: paper 003's constant images),
`uniform` (every element uniform in its own range); `heldout`: the test rows of the classes the
data line holds out (`holdout = [...]`), the in-distribution set truncated to as many;
`sklearn_digits`: scikit-learn's 8 x 8 digits resized to the images' size (a second dataset).

Tests (`test`, paper 002): `threshold` uses the score itself; `typicality` and `quantile` score
an input by how typical its score is of the training inputs' (`likelihood_test`).

Metrics: `auroc` = P(score(ID) > score(OOD)) + 1/2 P(tie) (the Mann-Whitney statistic, what
scikit-learn's roc_auc_score computes with ID as the positive class); `auc_pr` = average precision
with **OOD as the positive class and -score as its score** (paper 003's convention: a perfectly
inverted detector on balanced sets scores 1 - ln 2 = 30.69 %), computed like scikit-learn's
average_precision_score (a step function over the distinct thresholds, ties counted together).
"""

from __future__ import annotations

import torch

from ebmspec import ir
from ebmspec.runtime.model.energy import variable_table
from ebmspec.runtime.model.enumeration import label_scores, marginal_energy
from ebmspec.runtime.seeding import stream

ROWS = 2048  # inputs per scoring pass


def auroc(positive: torch.Tensor, negative: torch.Tensor) -> float:
    """P(positive > negative) + 1/2 P(tie), by average ranks (ties share their mean rank)."""
    scores = torch.cat([positive, negative]).double()
    _, inverse, counts = torch.unique(scores, return_inverse=True, return_counts=True)
    # the average 1-based rank of each distinct value: the ranks below it, plus (count + 1) / 2
    counts = counts.double()
    below = torch.cumsum(counts, 0) - counts
    ranks = (below + (counts + 1) / 2.0)[inverse]
    n_pos, n_neg = positive.numel(), negative.numel()
    rank_sum = ranks[:n_pos].sum()
    return float((rank_sum - n_pos * (n_pos + 1) / 2.0) / (n_pos * n_neg))


def average_precision(labels: torch.Tensor, scores: torch.Tensor) -> float:
    """sum over the distinct thresholds t, highest first, of (R(t) - R(t_prev)) P(t), where
    P and R are the precision and recall of `score >= t` (labels: 1 = positive)."""
    order = torch.argsort(scores.double(), descending=True, stable=True)
    sorted_scores, sorted_labels = scores.double()[order], labels.double()[order]
    true_pos = torch.cumsum(sorted_labels, 0)
    # the last index of every run of equal scores: thresholds count ties together
    last = torch.ones_like(sorted_scores, dtype=torch.bool)
    last[:-1] = sorted_scores[1:] != sorted_scores[:-1]
    true_pos = true_pos[last]
    predicted = (torch.arange(1, len(order) + 1, dtype=torch.float64))[last]
    precision = true_pos / predicted
    recall = true_pos / sorted_labels.sum()
    steps = torch.diff(recall, prepend=torch.zeros(1, dtype=torch.float64))
    return float((steps * precision).sum())


def auc_pr_ood_positive(in_scores: torch.Tensor, out_scores: torch.Tensor) -> float:
    """Paper 003's AUC-PR: OOD is the positive class and -score its score."""
    labels = torch.cat([torch.zeros(in_scores.numel()), torch.ones(out_scores.numel())])
    return average_precision(labels, -torch.cat([in_scores, out_scores]))


def ood_sets(reals: dict, names, generator: torch.Generator) -> dict:
    """{set name: {real variable: [N, *shape]}} for the OOD `names`, N = the test inputs."""
    sets = {}
    for name in names:
        drawn = {}
        for variable, x in reals.items():
            count = x.shape[0]
            low, high = x.amin(0), x.amax(0)
            uniform = low + (high - low) * torch.rand(x.shape, generator=generator)
            if name == "uniform":
                drawn[variable] = uniform
            elif name == "constant":
                level = torch.rand((count,) + (1,) * (x.dim() - 1), generator=generator)
                drawn[variable] = (x.min() + (x.max() - x.min()) * level).expand(x.shape).clone()
            else:  # noise: half Gaussian with the data's moments, half uniform in its range
                gauss = x.mean(0) + x.std(0) * torch.randn(x.shape, generator=generator)
                half = torch.arange(count) < count // 2
                drawn[variable] = torch.where(
                    half.reshape((count,) + (1,) * (x.dim() - 1)), gauss, uniform
                )
        sets[name] = drawn
    return sets


def scores(model, program: ir.Program, reals: dict, kind: str, device) -> torch.Tensor:
    """[N] the OOD score `kind` of the inputs `reals` ({real variable: [N, *shape]})."""
    labels = tuple(v.name for v in program.variables if v.discrete)
    variables = variable_table(program)
    count = next(iter(reals.values())).shape[0]
    out = []
    for start in range(0, count, ROWS):
        rows = {n: v[start : start + ROWS].to(device) for n, v in reals.items()}
        if kind == "pxgrad":
            rows = {n: v.detach().requires_grad_(True) for n, v in rows.items()}
            with torch.enable_grad():
                log_px = marginal_energy(model, rows, variables, labels)
                grads = torch.autograd.grad(log_px.sum(), list(rows.values()))
            norm = sum(g.pow(2).reshape(g.shape[0], -1).sum(1) for g in grads).sqrt()
            out.append(-norm.detach().cpu())
            continue
        with torch.no_grad():
            if kind == "px":
                out.append(marginal_energy(model, rows, variables, labels).cpu())
            else:
                table_scores = label_scores(model, rows, variables, labels)
                out.append(torch.softmax(table_scores, 1).amax(1).cpu())
    return torch.cat(out)


def likelihood_test(test: str, scores: torch.Tensor, train: torch.Tensor) -> torch.Tensor:
    """Paper 002's tests as threshold-free scores (higher = more in-distribution) from raw scores
    s and the training inputs' scores S_train: `typicality` -|s - mean(S_train)| (an interval
    symmetric around the mean); `quantile` min(F(s), 1 - F(s)) with F the empirical CDF of
    S_train (equal training mass beyond either threshold: the two-tailed quantile test)."""
    scores, train = scores.double(), train.double()
    if test == "typicality":
        return -(scores - train.mean()).abs()
    ordered = torch.sort(train).values
    cdf = torch.searchsorted(ordered, scores, right=True).double() / len(ordered)
    return torch.minimum(cdf, 1 - cdf)


def ood_report(
    model, program: ir.Program, split: dict, limit, device, seed: int, scores_out=None
) -> list[dict]:
    """One row per (metric, score, OOD set) of the spec's `ood` lines. `scores_out` (a dict), if
    given, receives the scores themselves: {score: {"test" or OOD set: tensor}}."""
    reports = program.evaluate.reports if program.evaluate is not None else ()
    lines = [r.call for r in reports if r.kind == "ood"]
    if not lines:
        return []
    names = [v.name for v in program.variables if not v.discrete]
    count = split[names[0]].shape[0] if limit is None else min(limit, split[names[0]].shape[0])
    reals = {n: split[n][:count].float().cpu() for n in names}
    generator = stream(seed, "ood_sets")
    from_data = split.get("ood", {})
    wanted = sorted({name for call in lines for name in call.arg("against")} - set(from_data))
    sets = ood_sets(reals, wanted, generator)
    for name, values in from_data.items():  # as many as the test inputs, or all there are
        sets[name] = {n: values[n][:count].float().cpu() for n in names}
    cache: dict = {}

    if "reference" in split:
        sets["reference"] = {n: split["reference"][n].float().cpu() for n in names}

    def of(kind: str, which: str) -> torch.Tensor:
        if (kind, which) not in cache:
            inputs = reals if which == "test" else sets[which]
            cache[kind, which] = scores(model, program, inputs, kind, device)
            if scores_out is not None:
                scores_out.setdefault(kind, {})[which] = cache[kind, which]
        return cache[kind, which]

    rows = []
    for call in lines:
        kind, test = call.arg("score"), call.arg("test")
        for which in call.arg("against"):
            inside, outside = of(kind, "test"), of(kind, which)
            if test != "threshold":
                inside, outside = (
                    likelihood_test(test, s, of(kind, "reference")) for s in (inside, outside)
                )
            # Paper 003: both sets truncated to the same length (a set from data can be shorter).
            inside = inside[: len(outside)]
            if call.name == "auroc":
                value = auroc(inside, outside)
            else:
                value = auc_pr_ood_positive(inside, outside)
            rows.append(
                {"metric": call.name, "score": kind, "test": test, "against": which,
                 "value": value, "examples": len(inside)}
            )  # fmt: skip
    return rows
