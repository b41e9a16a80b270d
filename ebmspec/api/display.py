"""How the Python API's objects show themselves: one-line reprs, small HTML tables, progress.

In: a program's variables, rows of text. Out: short domain texts (`real[2]`, `categorical(2)[3]`),
an escaped HTML table for `_repr_html_` (Jupyter), and the optional Rich progress display that
`Model.fit(progress=True)` and `Run.sample(progress=True)` show (a `Monitor` for training).
"""

from __future__ import annotations

import html
import warnings

from ebmspec import ir
from ebmspec.runtime.training.settings import Monitor


def domain(variable: ir.Variable) -> str:
    """`real[2]`, `binary[16]`, `categorical(2)[3]` (no bounds: a repr stays one short line)."""
    dims = ", ".join(map(str, variable.shape))
    if variable.kind == "categorical":
        return f"categorical({variable.categories})" + (f"[{dims}]" if variable.shape else "")
    return f"{variable.kind}[{dims}]"


def variables_text(program: ir.Program) -> str:
    return ", ".join(f"{v.name} {domain(v)}" for v in program.variables)


def html_table(caption: str, header: tuple[str, ...], rows: list[tuple]) -> str:
    """A small HTML table (every cell escaped) under a caption."""
    head = "".join(f"<th style='text-align:left'>{html.escape(h)}</th>" for h in header)
    body = "".join(
        "<tr>" + "".join(f"<td style='text-align:left'>{html.escape(str(c))}</td>" for c in row)
        for row in rows
    )
    return f"<table><caption>{html.escape(caption)}</caption><tr>{head}</tr>{body}</table>"


class FitMonitor(Monitor):
    """The trainer's monitor in Python: a Rich progress bar with the loss when `progress`, and
    the trainer's warnings (rollbacks) as Python warnings either way."""

    def __init__(self, title: str, progress: bool):
        self.title, self.enabled = title, progress
        self.bar = self.task = None

    def start(self, total: int, done: int) -> None:
        if self.enabled:
            from rich.progress import Progress

            self.bar = Progress(*Progress.get_default_columns(), transient=False)
            self.task = self.bar.add_task(self.title, total=total, completed=done)
            self.bar.start()

    def tick(self, iteration: int, train_seconds: float) -> None:
        if self.bar is not None:
            self.bar.update(self.task, completed=iteration)

    def update(self, iteration: int, metrics: dict) -> None:
        if self.bar is not None:
            description = f"{self.title} loss {metrics.get('loss', float('nan')):.4g}"
            self.bar.update(self.task, description=description)

    def warn(self, text: str) -> None:
        warnings.warn(text, RuntimeWarning, stacklevel=2)

    def stop(self) -> None:
        if self.bar is not None:
            self.bar.stop()
            self.bar = None


def sweep_bar(total: int, enabled: bool):
    """(callback(state) advancing one sweep, stop()) of a Rich progress bar; no-ops when off."""
    if not enabled:
        return None, lambda: None
    from rich.progress import Progress

    bar = Progress(*Progress.get_default_columns(), transient=True)
    task = bar.add_task("sweeps", total=total)
    bar.start()
    return (lambda state: bar.update(task, advance=1)), bar.stop
