"""Scores of predictions against labels: per-attribute accuracy and calibration.

In: predictions or predicted probabilities per variable (`{name: [N, *shape]}` codes, or
`[N, *shape, K]` probabilities) and integer labels (-1 = missing). Out: accuracies and
calibration errors (top-label ECE / MCE / OCE with the reliability table, and paper 002's
all-class ECE), pooled over every observed (example, attribute) pair and per attribute.
"""

from __future__ import annotations

import itertools
import math

import torch


def attribute_names(name: str, shape) -> list[str]:
    """`name` for a scalar variable, `name[i]` (`name[i, j]`) per element of an array."""
    if not shape:
        return [name]
    return [f"{name}[{', '.join(map(str, i))}]" for i in itertools.product(*map(range, shape))]


def _attributes(labels: dict, other: dict):
    """(attribute, label [N], other's entry [N, ...]) per element of every labelled variable."""
    for name, label in labels.items():
        n = label.shape[0]
        rows, values = label.reshape(n, -1), other[name]
        values = values.reshape(n, rows.shape[1], *values.shape[label.dim() :])
        for j, attribute in enumerate(attribute_names(name, tuple(label.shape[1:]))):
            yield attribute, rows[:, j], values[:, j]


def accuracy(pred: dict, labels: dict) -> dict:
    """Per-attribute accuracy over the examples whose label is not -1, and `mean` over all
    observed (example, attribute) pairs (docs/design/ALGORITHMS.md 2.6: not exact-match). An
    attribute with no label is NaN. Returns {"mean", "per_attribute": {attribute: accuracy},
    "pairs"}."""
    per_attribute, right, seen = {}, 0, 0
    for attribute, label, guess in _attributes(labels, pred):
        observed = label != -1
        hits = int((guess[observed] == label[observed]).sum())
        count = int(observed.sum())
        per_attribute[attribute] = hits / count if count else math.nan
        right, seen = right + hits, seen + count
    return {
        "mean": right / seen if seen else math.nan,
        "per_attribute": per_attribute,
        "pairs": seen,
    }


def calibration_error(confidence: torch.Tensor, correct: torch.Tensor, bins: int = 20) -> float:
    """Top-label ECE: sum over `bins` equal-width bins [k/bins, (k+1)/bins) of
    (n_b / n) |accuracy_b - confidence_b|. A confidence of exactly 1.0 belongs to the last bin
    (the upper edge is exclusive, and the reference code drops those: docs/design/ALGORITHMS.md
    2.9)."""
    return calibration_errors(confidence, correct, bins)["ece"]


OVERCONFIDENT = 0.997  # paper 002's C_crit


def calibration_errors(confidence: torch.Tensor, correct: torch.Tensor, bins: int = 20) -> dict:
    """Calibration over `bins` equal-width confidence bins (as `calibration_error`), with n_b
    predictions, accuracy acc_b and mean confidence conf_b in bin b (paper 002, B.3):
    ECE = sum_b (n_b / n) |acc_b - conf_b|; MCE = max over non-empty b of |acc_b - conf_b|;
    OCE = (error rate of the predictions with confidence >= C_crit = 99.7 %) / (1 - C_crit):
    how many times more often the very confident predictions are wrong than they may be (NaN
    when none is that confident). `reliability`: per bin [n_b, acc_b, conf_b] (NaN when
    empty), the reliability diagram's data. NaN without predictions."""
    confidence = confidence.double().flatten()
    correct = correct.double().flatten()
    if confidence.numel() == 0:
        return {"ece": math.nan, "mce": math.nan, "oce": math.nan, "reliability": []}
    inner = torch.tensor([k / bins for k in range(1, bins)], dtype=torch.float64)
    index = torch.bucketize(confidence, inner, right=True)  # 1.0 >= every edge: the last bin
    gap = torch.zeros(bins, dtype=torch.float64)
    gap.index_add_(0, index, correct - confidence)
    count = torch.bincount(index, minlength=bins).double()
    hits = torch.zeros(bins, dtype=torch.float64).index_add_(0, index, correct)
    conf = torch.zeros(bins, dtype=torch.float64).index_add_(0, index, confidence)
    seen = count > 0
    sure = confidence >= OVERCONFIDENT
    errors = (1 - correct[sure]).mean() if sure.any() else torch.tensor(math.nan)
    per_bin = torch.stack([count, hits / count, conf / count], 1)  # 0/0 = NaN when empty
    return {
        "ece": float(gap.abs().sum() / confidence.numel()),
        "mce": float((gap[seen] / count[seen]).abs().max()),
        "oce": float(errors / (1 - OVERCONFIDENT)),
        "reliability": per_bin.tolist(),
    }


def ece(marginals: dict, labels: dict, bins: int = 20) -> dict:
    """Calibration of p(y_i = k | x), pooled over all observed (example, attribute) pairs:
    top-label (confidence max_k, correct = argmax == label) ECE, MCE, OCE and reliability per
    bin (`calibration_errors`); `ece_all_classes`: paper 002's variant, every (example, class)
    pair one prediction (confidence p_k, correct = label == k), dominated by the many small
    probabilities; top-label ECE per attribute, and `macro` = their mean."""
    per_attribute, confidences, corrects, everyone, truths = {}, [], [], [], []
    for attribute, label, probs in _attributes(labels, marginals):
        observed = label != -1
        confidence, guess = probs[observed].max(-1)
        correct = guess == label[observed]
        per_attribute[attribute] = calibration_error(confidence, correct, bins)
        confidences.append(confidence)
        corrects.append(correct)
        everyone.append(probs[observed].flatten())
        classes = torch.arange(probs.shape[-1], device=label.device)
        truths.append((label[observed].unsqueeze(-1) == classes).flatten())
    pooled = calibration_errors(torch.cat(confidences), torch.cat(corrects), bins)
    known = [v for v in per_attribute.values() if not math.isnan(v)]
    macro = sum(known) / len(known) if known else math.nan
    return {
        **pooled,
        "ece_all_classes": calibration_error(torch.cat(everyone), torch.cat(truths), bins),
        "macro": macro,
        "per_attribute": per_attribute,
        "bins": bins,
    }
