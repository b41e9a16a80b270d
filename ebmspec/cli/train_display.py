"""What `ebmspec train` shows while it runs.

In: the trainer's `Monitor` calls (start, update with a metrics window, evaluated, warn). Out: on
a terminal, a Rich live panel (progress bar with ETA; loss, mean f on data and on samples,
acceptance per block, learning rate; the last evaluation); elsewhere (CI logs, pipes) one plain
line per ~5 % of the run and per evaluation, so logs stay readable.
"""

from __future__ import annotations

import sys
import time
from pathlib import Path

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

from ebmspec.runtime.training.trainer import Monitor


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
    if "test_log_likelihood" in result:
        parts.append(f"test log-likelihood {result['test_log_likelihood']:.4g} nats")
    if "test_free_energy" in result:
        parts.append(f"test free energy {result['test_free_energy']:.4g} nats (unnormalised)")
    if "sample_out_of_range" in result:
        parts.append(
            f"out of data range {100 * result['sample_out_of_range']:.1f}%, "
            f"mean gap {result['sample_mean_gap']:.2f} std"
        )
    if not parts:
        return f"- (it {result.get('iteration')}: the evaluate block reports no numbers here)"
    return ", ".join(parts) + f" (it {result.get('iteration')})"


def _duration(seconds: float) -> str:
    if seconds < 90:
        return f"{seconds:.0f} s"
    if seconds < 5400:
        return f"{seconds / 60:.0f} min"
    return f"{seconds / 3600:.1f} h"


# The loss parts an objective reports (train_settings.LOSS_PARTS): log-line and panel labels.
_PART_LABELS = {
    "f_data": "f data",
    "f_samples": "f samples",
    "score_norm": "score^2/2",
    "score_trace": "trace",
    "log_z": "log Z",
    "gen_entropy": "generator entropy",
    "gen_sigma": "sigma",
}
_PART_ROWS = (
    ("mean f on data", "f_data"),
    ("mean f on samples", "f_samples"),
    ("1/2 |score|^2", "score_norm"),
    ("trace term", "score_trace"),
    ("log Z", "log_z"),
    ("generator entropy (surrogate)", "gen_entropy"),
    ("generator sigma", "gen_sigma"),
)


def _fmt_parts(metrics: dict) -> str:
    return "  ".join(
        f"{label} {metrics[key]:.4g}" for key, label in _PART_LABELS.items() if key in metrics
    )


def _fmt_accept(accept: dict) -> str:
    return ", ".join(f"{name} {rate:.2f}" for name, rate in accept.items())


class LiveDisplay(Monitor):
    """Rich live panel on a terminal, plain lines otherwise."""

    # A run projected longer than this gets the hint (when the spec has profiles to offer).
    LONG_RUN_SECONDS = 2 * 3600.0

    def __init__(
        self, console: Console | None = None, title: str = "training", hint: str | None = None
    ):
        self.console = console or Console(stderr=True)
        self.hint = hint  # e.g. "the spec's `cpu` profile is shorter: --profile cpu"
        self.hinted = False
        self.first: tuple[int, float] | None = None  # (iteration, train seconds) at the start
        self.speed: float | None = None  # seconds per iteration
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
                self._note(f"resuming at iteration {done} of {total}")
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
        # The panel is this object: Live draws `__rich__` at each refresh (4 per second), so an
        # iteration only updates numbers, never builds a table.
        self.live = Live(self, console=self.console, refresh_per_second=4)
        self.live.start()

    def tick(self, iteration: int, train_seconds: float) -> None:
        if self.first is None:
            self.first = (iteration, train_seconds)
        elif iteration > self.first[0]:
            # Measured from the first iteration on: it carries one-off costs (data, warm-up).
            self.speed = (train_seconds - self.first[1]) / (iteration - self.first[0])
            projected = self.speed * self.total
            enough = iteration - self.first[0] >= 3 or train_seconds - self.first[1] > 60
            if not self.hinted and enough and projected > self.LONG_RUN_SECONDS:
                self.hinted = True
                note = f"{self.speed:.2f} s per iteration here: all {self.total} take ~"
                note += _duration(projected)
                self._note(note + (f"; {self.hint}" if self.hint else ""))
        if self.live is not None:
            self.progress.update(self.task, completed=iteration)

    def update(self, iteration: int, metrics: dict) -> None:
        self.last = metrics
        if self.live is not None:
            return
        if iteration >= self.next_line or iteration == self.total or iteration in (1, 10):
            step = max(1, self.total // 20)
            self.next_line = max(self.next_line, (iteration // step + 1) * step)
            speed = f"  {self.speed:.3g} s/it" if self.speed else ""
            self._note(
                f"it {iteration}/{self.total}  {metrics['train_seconds']:.0f}s{speed}  "
                f"loss {metrics['loss']:.4g}  {_fmt_parts(metrics)}  lr {metrics['lr']:.3g}"
                + (f"  accept {_fmt_accept(metrics['accept'])}" if metrics["accept"] else "")
            )

    def _note(self, text: str) -> None:
        """One log line, never wrapped (a wrapped line splits paths and numbers in CI logs)."""
        self.console.print(text, highlight=False, markup=False, soft_wrap=True)

    def evaluated(self, iteration: int, result: dict) -> None:
        self.last_eval = result
        if self.live is None:
            self._note(f"eval: {_fmt_eval(result)}")

    def warn(self, text: str) -> None:
        self.console.print(f"[yellow]warning:[/] {text}", highlight=False, soft_wrap=True)

    def stop(self) -> None:
        if self.live is not None:
            self.live.refresh()
            self.live.stop()
            self.live = None

    # ---- rendering ------------------------------------------------------------------------
    def __rich__(self):
        table = Table.grid(padding=(0, 2))
        table.add_column(style="bold")
        table.add_column()
        m = self.last
        if m:
            table.add_row("loss", f"{m['loss']:.4g}")
            for label, key in _PART_ROWS:
                if key in m:
                    table.add_row(label, f"{m[key]:.4g}")
            if m["accept"]:
                table.add_row("acceptance", _fmt_accept(m["accept"]))
            table.add_row("learning rate", f"{m['lr']:.3g}")
        if self.speed:
            full = _duration(self.speed * self.total)
            table.add_row("speed", f"{self.speed:.3g} s/iteration, all {self.total} ~{full}")
        table.add_row("last evaluation", _fmt_eval(self.last_eval))
        return Group(self.progress, table)


def print_training_summary(console, run_dir: Path, summary: dict) -> None:
    state = "finished" if summary["complete"] else "stopped (resume with --resume)"
    console.print(
        f"{state} at iteration {summary['iteration']} after {summary['train_seconds']:.1f} s "
        f"of training; {summary['rollbacks']} rollbacks",
        highlight=False,
    )
    result = summary.get("last_eval")
    if result:
        parts = [
            f"{key} {100 * result[key]:.2f}%"
            for key in ("accuracy_energy", "accuracy_samples")
            if key in result
        ]
        if "ece" in result:
            parts.append(f"ece {result['ece']:.4f}")
        if "test_log_likelihood" in result:
            parts.append(
                f"exact log-likelihood {result['test_log_likelihood']:.2f} nats "
                f"({result['test_log_likelihood_per_dim']:.4f} per dimension)"
            )
        if "test_free_energy" in result:
            parts.append(
                f"test free energy log sum_h exp f {result['test_free_energy']:.3f} nats "
                "(unnormalised)"
            )
        examples = result.get("test_log_likelihood_examples") or result.get("examples")
        examples = examples or result.get("test_free_energy_examples")
        if parts:  # a spec whose evaluate block reports only plots or AIS has no number here
            console.print(
                f"evaluation on {examples} test examples: " + ", ".join(parts), highlight=False
            )
    console.print(
        f"run folder: {run_dir} (sample: `ebmspec sample`, evaluate: `ebmspec eval`)",
        soft_wrap=True,
    )
    console.print(
        f"logs: metrics.jsonl, metrics.csv and `tensorboard --logdir {run_dir.parent}`; "
        f"`ebmspec runs {run_dir.parent}` lists the runs there",
        soft_wrap=True,
        highlight=False,
    )


def profile_hint(program, applied: str | None) -> str | None:
    """What to suggest when the schedule would run for hours: the spec's own profiles."""
    if applied is not None or not program.profiles:
        return None
    names = [p.name for p in program.profiles]
    pick = "cpu" if "cpu" in names else names[0]
    return f"the spec's profiles ({', '.join(names)}) are shorter, e.g. `--profile {pick}`"
