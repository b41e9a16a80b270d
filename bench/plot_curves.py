"""Training curves of one or more runs as a PNG and a markdown table, from their metrics.jsonl.

In: run folders of `ebmspec train`. Out: `--png PATH`: one panel per run side by side, x = minutes
of training (ticks every 10 min), y = 0..1 (ticks at 0.25 steps); lines per evaluated metric:
energy-based accuracy (blue), sample-based accuracy (green), conditional samples predicted as
their condition (orange), its worst single value (red). And on stdout, per run, a markdown table
of every evaluation (iteration, minutes, those metrics, sample statistics). No plotting library:
the lines are drawn into a pixel array and written with ebmspec's own PNG writer.

Run: `python bench/plot_curves.py runs/A runs/B --png docs/images/curves.png`.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import torch

from ebmspec.runtime.plots.png import png_bytes

SERIES = (
    ("accuracy_energy", "energy-based accuracy", (40, 90, 220)),
    ("accuracy_samples", "sample-based accuracy", (30, 160, 60)),
    ("generation_accuracy", "samples obey the condition", (240, 140, 20)),
    ("generation_worst", "worst conditioned value", (210, 40, 40)),
)
WIDTH, HEIGHT, MARGIN = 360, 200, 12


def evaluations(run: Path) -> list[dict]:
    rows = []
    for line in (run / "metrics.jsonl").read_text(encoding="utf-8").splitlines():
        entry = json.loads(line)
        if "eval" in entry:
            rows.append(entry["eval"])
    return rows


def table(run: Path, rows: list[dict]) -> str:
    head = "| iteration | minutes | " + " | ".join(label for _, label, _ in SERIES)
    head += " | outside data range | mean gap (std) |"
    lines = [f"{run}:", "", head, "|" + "---|" * (head.count("|") - 1)]
    for row in rows:
        cells = [str(row.get("iteration")), f"{row.get('train_seconds', 0) / 60:.1f}"]
        # null (strict JSON's non-finite number) prints as a dash, like a missing figure
        cells += [f"{100 * row[k]:.1f} %" if row.get(k) is not None else "-" for k, _, _ in SERIES]
        out = row.get("sample_out_of_range")
        cells.append(f"{100 * out:.1f} %" if out is not None else "-")
        gap = row.get("sample_mean_gap")
        cells.append(f"{gap:.2f}" if gap is not None else "-")
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines)


def _line(canvas: torch.Tensor, a, b, colour) -> None:
    """Draw a 2-px line between pixel positions a and b (x, y) in place."""
    steps = int(max(abs(b[0] - a[0]), abs(b[1] - a[1]))) + 1
    for t in torch.linspace(0, 1, steps + 1):
        x = round(a[0] + (b[0] - a[0]) * float(t))
        y = round(a[1] + (b[1] - a[1]) * float(t))
        canvas[max(y - 1, 0) : y + 1, max(x - 1, 0) : x + 1] = torch.tensor(
            colour, dtype=torch.uint8
        )


def panel(rows: list[dict], minutes: float) -> torch.Tensor:
    canvas = torch.full((HEIGHT, WIDTH, 3), 255, dtype=torch.uint8)
    left, right, top, bottom = MARGIN, WIDTH - MARGIN, MARGIN, HEIGHT - MARGIN

    def at(minute: float, value: float) -> tuple[float, float]:
        return (
            left + (right - left) * minute / minutes,
            bottom - (bottom - top) * value,
        )

    grey = (200, 200, 200)
    for level in (0.0, 0.25, 0.5, 0.75, 1.0):
        _line(canvas, at(0, level), at(minutes, level), grey)
    tick = 0.0
    while tick <= minutes + 1e-9:
        _line(canvas, at(tick, 0), at(tick, 0.04), (90, 90, 90))
        tick += 10
    for key, _, colour in SERIES:
        points = [
            at(row.get("train_seconds", 0) / 60, row[key])
            for row in rows
            if row.get(key) is not None
        ]
        for a, b in zip(points, points[1:], strict=False):
            _line(canvas, a, b, colour)
    return canvas


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("runs", nargs="+", type=Path)
    parser.add_argument("--png", type=Path, help="write the curves here")
    parser.add_argument("--minutes", type=float, default=60.0, help="x axis length")
    args = parser.parse_args(argv)
    panels = []
    for run in args.runs:
        rows = evaluations(run)
        print(table(run, rows) + "\n")
        panels.append(panel(rows, args.minutes))
    if args.png is not None:
        gap = torch.full((HEIGHT, 6, 3), 160, dtype=torch.uint8)
        parts = [p for pair in zip(panels, [gap] * len(panels), strict=True) for p in pair]
        args.png.write_bytes(png_bytes(torch.cat(parts[:-1], 1)))
        print(f"wrote {args.png}: " + ", ".join(label for _, label, _ in SERIES))


if __name__ == "__main__":
    main()
