"""What `ebmspec runs` prints: the runs under a folder as a Rich table, or one JSON object.

In: a folder (the command's DIR). Out: one row per run (`run_index.list_runs`): name (and `latest`),
spec, profile, iteration reached of planned, when it was created, its last evaluation and its best
one; `--json`: `{"directory": DIR, "runs": [...]}` with every field of `run_index.RunSummary`.
A folder with no runs says so (exit 0); a missing folder or a file is a located E932 on DIR.
"""

from __future__ import annotations

from pathlib import Path

from rich.console import Console
from rich.markup import escape
from rich.table import Table

from ebmspec import run_index, runs
from ebmspec.diagnostics import argument_error
from ebmspec.runtime.io import strict_json

LABELS = {
    "score": "score",
    "accuracy_energy": "acc energy",
    "accuracy_samples": "acc samples",
    "ece": "ECE",
    "generation_accuracy": "generation",
    "test_log_likelihood": "test log-lik",
    "test_free_energy": "test free energy",
}
PERCENT = ("score", "accuracy_energy", "accuracy_samples", "generation_accuracy")


def located_runs(folder: Path) -> list[run_index.RunSummary]:
    """The runs under `folder`, or a located E932 on the DIR argument."""
    try:
        return run_index.list_runs(folder)
    except runs.RunError as error:
        text = str(folder)
        raise argument_error(
            "DIR", text, error.code, error.message, 0, len(text), error.help
        ) from None


def _number(key: str, value) -> str:
    if not isinstance(value, int | float):
        return "-"
    if key in PERCENT:
        return f"{100 * value:.1f}%"
    return f"{value:.4f}" if key == "ece" else f"{value:.4g}"


def format_eval(result: dict | None) -> str:
    """`acc energy 48.9%, ECE 0.0373 (it 20)`; `-` without an evaluation."""
    if not result:
        return "-"
    parts = [
        f"{LABELS[key]} {_number(key, result[key])}"
        for key in run_index.HEADLINE
        if key in result and key != "score"  # the score repeats the worse of two shown
    ]
    if not parts and "score" in result:
        parts.append(f"score {_number('score', result['score'])}")
    return ", ".join(parts) + f" (it {result.get('iteration', '?')})"


def format_best(best: dict | None) -> str:
    if not best or "metric" not in best:
        return "-"
    metric = best["metric"]
    label = LABELS.get(metric, metric)
    return f"{label} {_number(metric, best.get('value'))} (it {best.get('iteration', '?')})"


def format_progress(run: run_index.RunSummary) -> str:
    if run.iteration is None:
        return "-"
    text = f"{run.iteration}/{run.iterations if run.iterations is not None else '?'}"
    return text if run.complete else text + " stopped"


def print_runs(console: Console, folder: Path, found: list[run_index.RunSummary]) -> None:
    if not found:
        console.print(f"no runs in {escape(str(folder))}", soft_wrap=True)
        return
    table = Table(title=f"runs in {escape(str(folder))}", title_justify="left")
    for column in ("run", "spec", "profile", "iteration", "created", "last evaluation", "best"):
        table.add_column(column, overflow="fold")
    for run in found:
        name = escape(run.name) + (" [bold](latest)[/]" if run.latest else "")
        spec = escape(Path(run.spec).name) if run.spec else "-"
        table.add_row(
            name,
            spec,
            escape(run.profile or "-"),
            format_progress(run),
            run.created or "-",
            format_eval(run.last_eval),
            format_best(run.best),
        )
    console.print(table)


def runs_command(console: Console, folder: Path, json_output: bool) -> None:
    found = located_runs(folder)
    if json_output:
        listing = {"directory": str(folder), "runs": [run.as_dict() for run in found]}
        print(strict_json.dumps(listing))
        return
    print_runs(console, folder, found)
