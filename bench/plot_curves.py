"""Training curves of one or more runs as a PNG and a markdown table, from their metrics.jsonl.

In: run folders of `ebmspec train`. Out: `--png PATH` (or a .pdf): one panel per evaluated metric,
x = minutes of training, every run overlaid in its own colour and named in the legend:
energy-based accuracy, sample-based accuracy, conditional samples predicted as their condition,
its worst single value (drawn by `ebmspec.runtime.plots.curves`, as `ebmspec plot` draws every
quantity). And on stdout, per run, a markdown table of every evaluation (iteration, minutes,
those metrics, sample statistics).

Run: `python bench/plot_curves.py runs/A runs/B --png docs/pages/images/curves.png`.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from ebmspec.runtime.plots import curves, figures

SERIES = (
    ("accuracy_energy", "energy-based accuracy"),
    ("accuracy_samples", "sample-based accuracy"),
    ("generation_accuracy", "samples obey the condition"),
    ("generation_worst", "worst conditioned value"),
)


def evaluations(run: Path) -> list[dict]:
    rows = []
    for line in (run / "metrics.jsonl").read_text(encoding="utf-8").splitlines():
        entry = json.loads(line)
        if "eval" in entry:
            rows.append(entry["eval"])
    return rows


def table(run: Path, rows: list[dict]) -> str:
    head = "| iteration | minutes | " + " | ".join(label for _, label in SERIES)
    head += " | outside data range | mean gap (std) |"
    lines = [f"{run}:", "", head, "|" + "---|" * (head.count("|") - 1)]
    for row in rows:
        cells = [str(row.get("iteration")), f"{row.get('train_seconds', 0) / 60:.1f}"]
        # null (strict JSON's non-finite number) prints as a dash, like a missing figure
        cells += [f"{100 * row[k]:.1f} %" if row.get(k) is not None else "-" for k, _ in SERIES]
        out = row.get("sample_out_of_range")
        cells.append(f"{100 * out:.1f} %" if out is not None else "-")
        gap = row.get("sample_mean_gap")
        cells.append(f"{gap:.2f}" if gap is not None else "-")
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines)


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("runs", nargs="+", type=Path)
    parser.add_argument("--png", type=Path, help="write the curves here (.png or .pdf)")
    args = parser.parse_args(argv)
    for run in args.runs:
        print(table(run, evaluations(run)) + "\n")
    if args.png is not None:
        runs = [curves.read_run(run, str(run)) for run in args.runs]
        keys = [key for key, _ in SERIES]
        content = curves.curves_png(runs, "minutes", keys, figures.format_of(args.png))
        args.png.write_bytes(content)
        print(f"wrote {args.png}: " + ", ".join(label for _, label in SERIES))


if __name__ == "__main__":
    main()
