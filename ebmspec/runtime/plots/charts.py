"""The evaluation's charts: reliability diagrams and OOD score histograms.

In: reliability tables (per confidence bin [count, accuracy, mean confidence], as
`metrics.calibration_errors` returns them), or
score tensors (the test inputs' and each OOD set's). Out: PNG or PDF bytes drawn with matplotlib:
one reliability diagram per table (accuracy bars, the gap to the bin's mean confidence, the
diagonal of perfect calibration, the bin counts below; ECE in the title), one histogram panel
per OOD set (test against that set, AUROC in the title).
"""

from __future__ import annotations

import math

import numpy as np
import torch
from matplotlib.figure import Figure

from ebmspec.runtime.evaluation.ood import auroc
from ebmspec.runtime.plots import figures

BLUE, RED, GREY = "#4573bf", "#e05a4d", "#8c8c8c"
PANEL = 4.2  # inches per panel


def _number(value) -> float:
    return math.nan if value is None else float(value)


def _reliability_panel(top, bottom, table: list, title: str, ece: float) -> None:
    bins = len(table)
    width = 1.0 / bins
    left = np.arange(bins) * width
    counts = np.array([_number(row[0]) for row in table])
    accuracy = np.array([_number(row[1]) for row in table])
    confidence = np.array([_number(row[2]) for row in table])
    full = counts > 0
    top.bar(left[full], accuracy[full], width, align="edge", color=BLUE, edgecolor="white",
            label="accuracy (model)")  # fmt: skip
    low, high = np.fmin(accuracy, confidence)[full], np.fmax(accuracy, confidence)[full]
    top.bar(left[full], high - low, width, bottom=low, align="edge", color=RED, alpha=0.45,
            hatch="//", edgecolor=RED, label="gap to mean confidence")  # fmt: skip
    top.plot([0, 1], [0, 1], "k--", linewidth=1, label="perfect calibration")
    top.set(xlim=(0, 1), ylim=(0, 1), ylabel="accuracy")
    top.set_title(f"{title}\nECE {ece:.4f}", fontsize=10)
    top.legend(loc="upper left", fontsize=8)
    top.grid(alpha=0.3)
    bottom.bar(left, counts, width, align="edge", color=GREY, edgecolor="white")
    for x, count in zip(left[full], counts[full], strict=True):
        bottom.text(x + width / 2, count, f"{int(count)}", ha="center", va="bottom", fontsize=7,
                    rotation=90 if bins > 10 else 0)  # fmt: skip
    bottom.set(xlim=(0, 1), xlabel="confidence", ylabel="examples")
    bottom.set_ylim(0, max(1.0, counts.max()) * 1.35)  # room for the counts above the bars


def table_ece(table: list) -> float:
    """Top-label ECE from a reliability table, sum_b n_b |acc_b - conf_b| / n: the number
    `metrics.calibration_errors` computes from the predictions (the same bins and counts)."""
    rows = [(c, _number(a), _number(f)) for c, a, f in table if c]
    total = sum(c for c, _, _ in rows)
    return sum(c * abs(a - f) for c, a, f in rows) / total if total else math.nan


def reliability_png(
    tables: dict[str, list], eces: dict[str, float] | None = None, format: str = "png"
) -> bytes:
    """`reliability_figure` as PNG or PDF bytes."""
    return figures.render(reliability_figure(tables, eces), format)


def reliability_figure(tables: dict[str, list], eces: dict[str, float] | None = None) -> Figure:
    """One reliability diagram per named table (e.g. per prediction line), side by side, with
    the examples per bin below each; the title's ECE is `eces[name]`, else `table_ece`."""
    figure = figures.new_figure(PANEL * len(tables) + 0.4, 5.4)
    axes = figure.subplots(2, len(tables), squeeze=False, height_ratios=(3, 1), sharex="col")
    for column, (title, table) in enumerate(tables.items()):
        ece = (eces or {}).get(title, table_ece(table))
        _reliability_panel(axes[0, column], axes[1, column], table, title, ece)
    return figure


def _shared_range(scores: list[torch.Tensor]) -> tuple[float, float]:
    """The 0.5 % and 99.5 % quantiles of every finite score, so that a few extreme ones do not
    squeeze the rest into one bin (beyond the range they pile into the end bins)."""
    everything = torch.cat([s.double().flatten() for s in scores])
    finite = everything[torch.isfinite(everything)]
    if finite.numel() == 0:
        return -0.5, 0.5
    low, high = torch.quantile(finite, torch.tensor([0.005, 0.995], dtype=torch.float64)).tolist()
    return (low - 0.5, high + 0.5) if high <= low else (low, high)


def _finite(scores: torch.Tensor, low: float, high: float) -> np.ndarray:
    values = scores.double().flatten()
    return values[torch.isfinite(values)].clamp(low, high).numpy()


def histogram_png(
    inside: torch.Tensor, sets: dict[str, torch.Tensor], score: str, format: str = "png"
) -> bytes:
    """`histogram_figure` as PNG or PDF bytes."""
    return figures.render(histogram_figure(inside, sets, score), format)


def histogram_figure(inside: torch.Tensor, sets: dict[str, torch.Tensor], score: str) -> Figure:
    """Histograms of one OOD score: the test set against each OOD set, one panel per set, on a
    shared range, each normalised to a density; the panel's title gives the AUROC of the score
    (test positive), computed as the evaluation does (both sets truncated to the same length)."""
    low, high = _shared_range([inside, *sets.values()])
    edges = np.linspace(low, high, 51)
    columns = min(3, len(sets))
    rows = math.ceil(len(sets) / columns)
    figure = figures.new_figure(PANEL * columns + 0.4, 3.6 * rows)
    axes = figure.subplots(rows, columns, squeeze=False).flatten()
    for ax, (name, outside) in zip(axes, sets.items(), strict=False):
        value = auroc(inside[: len(outside)], outside)
        ax.hist(_finite(inside, low, high), edges, density=True, color=BLUE, alpha=0.55,
                label="test (in-distribution)")  # fmt: skip
        ax.hist(_finite(outside, low, high), edges, density=True, color=RED, alpha=0.55,
                label=f"{name} (OOD)")  # fmt: skip
        ax.set_title(f"test vs {name}: AUROC {value:.3f}", fontsize=10)
        ax.set(xlabel=score, ylabel="density")
        ax.locator_params(axis="x", nbins=6)  # long tick labels (-0.005) must not touch
        ax.legend(fontsize=8)
        ax.grid(alpha=0.3)
    for ax in axes[len(sets) :]:
        ax.set_visible(False)
    return figure
