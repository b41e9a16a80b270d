"""A training run's log: `metrics.jsonl`, one JSON object per logged window, per evaluation and
per rollback.

In: the run folder, the process ranks (rank 0 writes) and entries (plain JSON-able dicts). Out:
the file, appended to line by line; on a resume or a rollback the lines past the restored
iteration are dropped, since the run writes them again.
"""

from __future__ import annotations

import json
from pathlib import Path

from ebmspec.runtime.io import strict_json
from ebmspec.runtime.training import distributed


class MetricsLog:
    """`metrics.jsonl` of one run folder; every process calls it, rank 0 writes."""

    def __init__(self, run_dir: Path, ranks: distributed.Ranks) -> None:
        self.path = Path(run_dir) / "metrics.jsonl"
        self.ranks = ranks

    def start(self) -> None:
        """An empty log for a fresh run."""
        if self.ranks.lead:
            self.path.write_text("", encoding="utf-8")

    def write(self, entry: dict) -> None:
        if not self.ranks.lead:
            return
        with self.path.open("a", encoding="utf-8") as stream:
            stream.write(strict_json.dumps(entry) + "\n")

    def truncate(self, iteration: int) -> None:
        """Drop log lines past `iteration`: the resumed run writes them again. Rollback lines
        stay: they record failures, which a deeper rollback does not undo."""
        if not self.ranks.lead or not self.path.exists():
            return
        kept = []
        for line in self.path.read_text(encoding="utf-8").splitlines():
            try:
                entry = json.loads(line)
                if "rollback" in entry or entry.get("iteration", 0) <= iteration:
                    kept.append(line)
            except json.JSONDecodeError:
                break  # a line cut by the kill: everything after it is gone too
        self.path.write_text("".join(k + "\n" for k in kept), encoding="utf-8")
