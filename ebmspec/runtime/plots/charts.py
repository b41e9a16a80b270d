"""The evaluation's charts as PNG bytes: reliability diagrams and OOD score histograms.

In: a reliability table (per confidence bin [count, accuracy, mean confidence], as
`scoring.calibration_errors` returns it) or score tensors (in-distribution and each OOD set).
Out: PNG bytes drawn with `lettering` (no plotting library): square panels with titles and axis
ranges, one panel per table or per OOD set.
"""

from __future__ import annotations

import math

import torch

from ebmspec.runtime.plots import lettering
from ebmspec.runtime.plots import png as images

SIDE = 300  # panel side in pixels: room for two axis numbers and the axis name below
BAR = (0.27, 0.45, 0.75)  # accuracy bars; in-distribution scores
GAP = (0.9, 0.35, 0.3)  # the gap to the diagonal; OOD scores
BOTH = (0.55, 0.35, 0.6)  # where the two histograms overlap
LINE = (0.15, 0.15, 0.15)


def _blank() -> torch.Tensor:
    return torch.ones(3, SIDE, SIDE, dtype=torch.float64)


def _fill(panel: torch.Tensor, left: int, right: int, low: float, high: float, colour) -> None:
    """Colour columns [left, right) between heights low..high (fractions of the panel, from the
    bottom)."""
    top = SIDE - round(high * SIDE)
    bottom = SIDE - round(low * SIDE)
    if bottom > top and right > left:
        panel[:, top:bottom, left:right] = torch.tensor(colour, dtype=torch.float64)[:, None, None]


def reliability_panel(table: list) -> torch.Tensor:
    """Bars of accuracy per confidence bin, the gap to the bin's mean confidence in red, and the
    diagonal (perfect calibration)."""
    panel = _blank()
    bins = len(table)
    for index, (count, accuracy, confidence) in enumerate(table):
        if not count or math.isnan(accuracy):
            continue
        left, right = round(index * SIDE / bins), round((index + 1) * SIDE / bins) - 1
        _fill(panel, left, right, 0.0, accuracy, BAR)
        _fill(panel, left, right, min(accuracy, confidence), max(accuracy, confidence), GAP)
    ramp = torch.arange(SIDE)
    panel[:, SIDE - 1 - ramp, ramp] = torch.tensor(LINE, dtype=torch.float64)[:, None]
    return panel


def reliability_png(tables: dict[str, list]) -> bytes:
    """One reliability diagram per named table (e.g. per prediction method), side by side."""
    panels = [reliability_panel(table) for table in tables.values()]
    extent = ((0.0, 1.0), (0.0, 1.0))
    figure = lettering.labelled_panels(panels, list(tables), extent, ("confidence", "accuracy"), 1)
    return images.png_bytes(figure.image)


def histogram_panel(inside: torch.Tensor, outside: torch.Tensor, low: float, high: float):
    """The two score histograms (each normalised to its own largest bin) over [low, high]."""
    panel = _blank()
    bins = 50
    tallest = []
    for scores in (inside, outside):
        clipped = scores.double().clamp(low, high)
        counts = torch.histc(clipped, bins=bins, min=low, max=high)
        tallest.append(counts / counts.max().clamp_min(1))
    for index in range(bins):
        left, right = round(index * SIDE / bins), round((index + 1) * SIDE / bins)
        ins, outs = float(tallest[0][index]), float(tallest[1][index])
        _fill(panel, left, right, 0.0, min(ins, outs), BOTH)
        _fill(panel, left, right, min(ins, outs), ins, BAR)
        _fill(panel, left, right, min(ins, outs), outs, GAP)
    return panel


def histogram_png(inside: torch.Tensor, sets: dict[str, torch.Tensor], score: str) -> bytes:
    """Histograms of one OOD score: the test set (blue) against each OOD set (red), one panel
    per set, on a shared range (the 0.5 % and 99.5 % quantiles of all scores, so that a few
    extreme ones do not squeeze the rest into one bin; beyond it they pile into the end bins)."""
    everything = torch.cat(
        [inside.double().flatten(), *(s.double().flatten() for s in sets.values())]
    )
    finite = everything[torch.isfinite(everything)]
    low, high = torch.quantile(finite, torch.tensor([0.005, 0.995], dtype=torch.float64)).tolist()
    if high <= low:
        low, high = low - 0.5, high + 0.5
    panels = [histogram_panel(inside, scores, low, high) for scores in sets.values()]
    titles = [f"test vs {name}" for name in sets]
    figure = lettering.labelled_panels(
        panels, titles, ((low, high), (0.0, 1.0)), (score, "share"), 1
    )
    return images.png_bytes(figure.image)
