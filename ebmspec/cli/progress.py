"""One transient Rich progress bar on stderr, for the slow commands (sample, eval).

In: a label and a total (None while unknown). Out: a context that yields `update(**fields)` (Rich's
`Progress.update` of the one task: `advance=`, `completed=`, `total=`) on a terminal, or None when
stderr is not a terminal, so logs and pipes stay clean.
"""

from __future__ import annotations

import sys
from contextlib import contextmanager


@contextmanager
def progress_bar(label: str, total: int | None):
    if total == 0 or not sys.stderr.isatty():
        yield None
        return
    from rich.console import Console
    from rich.progress import (
        BarColumn,
        MofNCompleteColumn,
        Progress,
        TextColumn,
        TimeRemainingColumn,
    )

    columns = (TextColumn(label), BarColumn(), MofNCompleteColumn(), TimeRemainingColumn())
    with Progress(*columns, console=Console(stderr=True), transient=True) as bar:
        task = bar.add_task(label, total=total)
        yield lambda **fields: bar.update(task, **fields)


@contextmanager
def sweep_progress(total: int):
    """A progress bar over sweeps on a terminal (the sampler's per-sweep callback), else None."""
    with progress_bar("sweeps", total) as update:
        yield None if update is None else (lambda state: update(advance=1))
