"""What `ebmspec train` shows while it runs.

In: the trainer's `Monitor` calls (start, update with a metrics window, evaluated, warn). Out: on
a terminal, a Rich live panel (progress bar with ETA; loss, mean f on data and on samples,
acceptance per block, learning rate; the last evaluation); elsewhere (CI logs, pipes) one plain
line per ~5 % of the run and per evaluation, so logs stay readable.
"""

from __future__ import annotations

import sys
import time

from rich.console import Console, Group
from rich.live import Live
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    TextColumn,
    TimeElapsedColumn,
    TimeRemainingColumn,
)
from rich.table import Table

from ebmspec.runtime.trainer import Monitor


def _fmt_eval(result: dict | None) -> str:
    if not result:
        return "-"
    parts = []
    for key, label in (("accuracy_energy", "acc energy"), ("accuracy_samples", "acc samples")):
        if key in result:
            parts.append(f"{label} {100 * result[key]:.2f}%")
    if "ece" in result:
        parts.append(f"ECE {result['ece']:.4f}")
    if "generation_accuracy" in result:
        parts.append(
            f"samples obey condition {100 * result['generation_accuracy']:.1f}% "
            f"(worst value {100 * result['generation_worst']:.0f}%)"
        )
    if "sample_out_of_range" in result:
        parts.append(
            f"out of data range {100 * result['sample_out_of_range']:.1f}%, "
            f"mean gap {result['sample_mean_gap']:.2f} std"
        )
    return ", ".join(parts) + f" (it {result.get('iteration')})"


def _fmt_accept(accept: dict) -> str:
    return ", ".join(f"{name} {rate:.2f}" for name, rate in accept.items())


class LiveDisplay(Monitor):
    """Rich live panel on a terminal, plain lines otherwise."""

    def __init__(self, console: Console | None = None, title: str = "training"):
        self.console = console or Console(stderr=True)
        self.interactive = self.console.is_terminal and sys.stderr.isatty()
        self.title = title
        self.last: dict = {}
        self.last_eval: dict | None = None
        self.live: Live | None = None
        self.progress: Progress | None = None
        self.task = None
        self.total = 0
        self.next_line = 0
        self.began = time.perf_counter()

    # ---- Monitor --------------------------------------------------------------------------
    def start(self, total: int, done: int) -> None:
        self.total = total
        self.began = time.perf_counter()
        step = max(1, total // 20)
        self.next_line = (done // step + 1) * step
        if not self.interactive:
            if done:
                self.console.print(f"resuming at iteration {done} of {total}")
            return
        self.progress = Progress(
            TextColumn(self.title),
            BarColumn(),
            MofNCompleteColumn(),
            TimeElapsedColumn(),
            TextColumn("eta"),
            TimeRemainingColumn(),
            console=self.console,
        )
        self.task = self.progress.add_task(self.title, total=total, completed=done)
        self.live = Live(self._render(), console=self.console, refresh_per_second=4)
        self.live.start()

    def update(self, iteration: int, metrics: dict) -> None:
        self.last = metrics
        if self.live is not None:
            self.progress.update(self.task, completed=iteration)
            self.live.update(self._render())
            return
        if iteration >= self.next_line or iteration == self.total:
            step = max(1, self.total // 20)
            self.next_line = (iteration // step + 1) * step
            self.console.print(
                f"it {iteration}/{self.total}  {metrics['train_seconds']:.0f}s  "
                f"loss {metrics['loss']:.4g}  f data {metrics['f_data']:.4g}  "
                f"f samples {metrics['f_samples']:.4g}  lr {metrics['lr']:.3g}  "
                f"accept {_fmt_accept(metrics['accept'])}",
                highlight=False,
            )

    def evaluated(self, iteration: int, result: dict) -> None:
        self.last_eval = result
        if self.live is not None:
            self.live.update(self._render())
        else:
            self.console.print(f"eval: {_fmt_eval(result)}", highlight=False)

    def warn(self, text: str) -> None:
        self.console.print(f"[yellow]warning:[/] {text}", highlight=False)

    def stop(self) -> None:
        if self.live is not None:
            self.live.update(self._render())
            self.live.stop()
            self.live = None

    # ---- rendering ------------------------------------------------------------------------
    def _render(self):
        table = Table.grid(padding=(0, 2))
        table.add_column(style="bold")
        table.add_column()
        m = self.last
        if m:
            table.add_row("loss", f"{m['loss']:.4g}")
            table.add_row("mean f", f"data {m['f_data']:.4g}   samples {m['f_samples']:.4g}")
            table.add_row("acceptance", _fmt_accept(m["accept"]))
            table.add_row("learning rate", f"{m['lr']:.3g}")
        table.add_row("last evaluation", _fmt_eval(self.last_eval))
        return Group(self.progress, table)
