"""Training curves of one or more run folders, from their `metrics.jsonl`.

In: run folders of `ebmspec train` (their `metrics.jsonl`: one object per logged window with the
loss, energies, learning rate and acceptance rates, one `{"eval": {...}}` per evaluation). Out:
`read_run` (the numbers as series per quantity) and `curves_png`: one panel per quantity (loss,
energies, learning rate, each kernel's acceptance, every scalar evaluation metric), against the
iteration or the minutes of training, every run overlaid in its own colour and named in the
legend; PNG or PDF bytes. Nulls (strict JSON's non-finite numbers) are gaps in the lines.
"""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import NamedTuple

from matplotlib.figure import Figure

from ebmspec.runtime.plots import figures

# Training quantities first, in this order; the rest in the order the log names them.
FIRST = ("loss", "f_data", "f_samples", "lr")
EVAL_FIRST = (
    "accuracy_energy",
    "accuracy_samples",
    "ece",
    "generation_accuracy",
    "generation_worst",
    "sample_out_of_range",
    "sample_mean_gap",
    "test_log_likelihood",
)
LABELS = {
    "loss": "loss",
    "f_data": "f(data), mean energy of the data",
    "f_samples": "f(samples), mean energy of the negatives",
    "lr": "learning rate",
    "accuracy_energy": "accuracy, energy-based",
    "accuracy_samples": "accuracy, sample-based",
    "ece": "ECE, top label",
    "mce": "MCE, top label",
    "oce": "OCE, confidence >= 99.7 %",
    "ece_all_classes": "ECE, all classes",
    "ece_macro": "ECE, mean over attributes",
    "generation_accuracy": "samples obey their condition",
    "generation_worst": "worst conditioned value",
    "sample_out_of_range": "samples outside the data range",
    "sample_mean_gap": "sample mean gap (data std)",
    "score": "score (the best-weights criterion)",
}
# Evaluation numbers that are bookkeeping, not metrics.
NOT_METRICS = frozenset({"iteration", "train_seconds", "examples", "bins"})
X_AXES = {"iteration": "iteration", "minutes": "minutes of training"}


class Run(NamedTuple):
    """One run's series: quantity -> [(iteration, minutes of training, value)], for the logged
    training windows and for the evaluations (NaN where the log has null)."""

    name: str
    training: dict[str, list[tuple[float, float, float]]]
    evaluation: dict[str, list[tuple[float, float, float]]]


def _value(number) -> float | None:
    if number is None:
        return math.nan
    if isinstance(number, bool) or not isinstance(number, int | float):
        return None
    return float(number)


def _add(series: dict, key: str, entry: dict, number) -> None:
    value = _value(number)
    if value is not None:
        seconds = _value(entry.get("train_seconds"))
        minutes = math.nan if seconds is None else seconds / 60
        series.setdefault(key, []).append((float(entry.get("iteration", math.nan)), minutes, value))


def read_run(folder: Path, name: str | None = None) -> Run:
    """The series in `folder/metrics.jsonl` (a line cut short by a killed run ends the log;
    rollback lines are left out: they record a failure, not a point of the curve)."""
    training: dict = {}
    evaluation: dict = {}
    for line in (Path(folder) / "metrics.jsonl").read_text(encoding="utf-8").splitlines():
        try:
            entry = json.loads(line)
        except json.JSONDecodeError:
            break
        if "rollback" in entry:
            continue
        if isinstance(entry.get("eval"), dict):
            result = entry["eval"]
            for key, number in result.items():
                if key not in NOT_METRICS and not key.endswith("_examples"):
                    _add(evaluation, key, result, number)
            continue
        for key, number in entry.items():
            if key in ("iteration", "train_seconds"):
                continue
            if isinstance(number, dict):  # the acceptance rate of each kernel
                for part, inner in number.items():
                    _add(training, f"{key} {part}", entry, inner)
            else:
                _add(training, key, entry, number)
    return Run(name or str(folder), training, evaluation)


def _ordered(keys, first) -> list[str]:
    keys = list(dict.fromkeys(keys))
    return [k for k in first if k in keys] + [k for k in keys if k not in first]


def quantities(runs: list[Run]) -> list[tuple[str, str]]:
    """(`train` or `eval`, key) of every panel: the training quantities, then the evaluation
    metrics, each in a stable order over all runs."""
    train = _ordered((k for r in runs for k in r.training), FIRST)
    train = [k for k in train if not k.startswith("accept ")] + [
        k for k in train if k.startswith("accept ")
    ]
    metrics = _ordered((k for r in runs for k in r.evaluation), EVAL_FIRST)
    return [("train", k) for k in train] + [("eval", k) for k in metrics]


def title(kind: str, key: str) -> str:
    if key.startswith("accept "):
        return f"acceptance rate, {key[len('accept ') :]}"
    label = LABELS.get(key, key.replace("_", " "))
    return f"{label} (evaluation)" if kind == "eval" else label


def _span(runs: list[Run], at: int) -> tuple[float, float] | None:
    """The x range of every point of every run, with a margin (None if there is none)."""
    xs = [
        p[at]
        for run in runs
        for series in (*run.training.values(), *run.evaluation.values())
        for p in series
        if math.isfinite(p[at])
    ]
    if not xs:
        return None
    low, high = min(xs), max(xs)
    margin = 0.03 * (high - low) if high > low else 1.0
    return low - margin, high + margin


def curves_png(
    runs: list[Run], x: str = "iteration", keys: list[str] | None = None, format: str = "png"
) -> bytes:
    """`curves_figure` as PNG or PDF bytes."""
    return figures.render(curves_figure(runs, x, keys), format)


def curves_figure(runs: list[Run], x: str = "iteration", keys: list[str] | None = None) -> Figure:
    """The curves of `runs` (x: `iteration` or `minutes`), one panel per quantity (`keys`:
    only these); the figure's legend names every run."""
    panels = [(k, key) for k, key in quantities(runs) if keys is None or key in keys]
    columns = max(1, min(3, len(panels)))
    rows = max(1, math.ceil(len(panels) / columns))
    figure = figures.new_figure(4.4 * columns + 0.3, 2.9 * rows + 0.6)
    axes = figure.subplots(rows, columns, squeeze=False).flatten()
    colours = [f"C{i % 10}" for i in range(len(runs))]
    at = 0 if x == "iteration" else 1
    span = _span(runs, at)
    for ax, (kind, key) in zip(axes, panels, strict=False):
        finite = False
        for run, colour in zip(runs, colours, strict=True):
            points = (run.training if kind == "train" else run.evaluation).get(key, [])
            xs, ys = [p[at] for p in points], [p[2] for p in points]
            finite = finite or any(math.isfinite(y) for y in ys)
            style = "o-" if kind == "eval" else "-"
            ax.plot(xs, ys, style, color=colour, linewidth=1.4, markersize=3.5)
        if not finite:  # e.g. OCE when no prediction was confident enough: null every time
            ax.text(0.5, 0.5, "no finite value logged", ha="center", va="center",
                    transform=ax.transAxes, color="0.4")  # fmt: skip
        if span is not None:  # every panel on the same x range, evaluations included
            ax.set_xlim(*span)
        ax.set_title(title(kind, key), fontsize=10)
        ax.set_xlabel(X_AXES[x], fontsize=9)
        ax.grid(alpha=0.3)
        ax.tick_params(labelsize=8)
    for ax in axes[len(panels) :]:
        ax.set_visible(False)
    if not panels:
        axes[0].set_visible(True)
        axes[0].text(0.5, 0.5, "nothing logged yet", ha="center", va="center")
        axes[0].set_axis_off()
    handles = [
        axes[0].plot([], [], "-", color=colour, label=run.name)[0]
        for run, colour in zip(runs, colours, strict=True)
    ]
    figure.legend(handles=handles, loc="outside upper center", ncols=min(4, len(runs)))
    return figure
