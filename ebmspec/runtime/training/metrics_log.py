"""A training run's log: `metrics.jsonl`, one JSON object per logged window, per evaluation and
per rollback; beside it the same entries as TensorBoard event files (`tensorboard/`,
`metrics_board`) and as a table (`metrics.csv`, `metrics_csv`).

In: the run folder, the process ranks (rank 0 writes) and entries (plain JSON-able dicts), plus
sample grids for TensorBoard. Out: the files; `metrics.jsonl` is appended to line by line, the
event files are flushed and the CSV rewritten at each checkpoint (`flush`) and at the end
(`close`). On a resume or a rollback the entries past the restored iteration are dropped from all
three, since the run writes them again.
"""

from __future__ import annotations

import json
from pathlib import Path

from ebmspec.runtime.io import checkpoint as ckpt
from ebmspec.runtime.io import strict_json
from ebmspec.runtime.training import distributed
from ebmspec.runtime.training.metrics_board import FOLDER, Board, chain_images, tile
from ebmspec.runtime.training.metrics_csv import write_csv


class MetricsLog:
    """`metrics.jsonl`, `metrics.csv` and `tensorboard/` of one run folder; every process calls
    it, rank 0 writes. `tensorboard=False`: no event files."""

    def __init__(self, run_dir: Path, ranks: distributed.Ranks, tensorboard: bool = True) -> None:
        self.path = Path(run_dir) / "metrics.jsonl"
        self.table = Path(run_dir) / "metrics.csv"
        self.ranks = ranks
        self.board = Board(Path(run_dir) / FOLDER) if tensorboard and ranks.lead else None

    def start(self) -> None:
        """An empty log for a fresh run."""
        if self.ranks.lead:
            self.path.write_text("", encoding="utf-8")
            if self.board is not None:
                self.board.start()

    def write(self, entry: dict) -> None:
        if not self.ranks.lead:
            return
        with self.path.open("a", encoding="utf-8") as stream:
            stream.write(strict_json.dumps(entry) + "\n")
        if self.board is not None:
            self.board.write(entry)

    def samples(self, trainer) -> None:
        """A grid of the chains' images at the trainer's iteration (models with an image
        variable; see `metrics_board.chain_images`)."""
        if self.board is None:
            return
        images = chain_images(trainer)
        if images is not None:
            self.board.image("samples", tile(images), trainer.iteration)

    def truncate(self, iteration: int) -> None:
        """Drop log lines past `iteration`: the resumed run writes them again. Rollback lines
        stay: they record failures, which a deeper rollback does not undo."""
        if not self.ranks.lead:
            return
        if self.board is not None:
            self.board.restart(iteration)
        if not self.path.exists():
            return
        kept = []
        for line in self.path.read_text(encoding="utf-8").splitlines():
            try:
                entry = json.loads(line)
                if "rollback" in entry or entry.get("iteration", 0) <= iteration:
                    kept.append(line)
            except json.JSONDecodeError:
                break  # a line cut by the kill: everything after it is gone too
        # atomically: a kill here must not lose the lines before the restored iteration
        ckpt.write_atomically(self.path, "".join(k + "\n" for k in kept))
        write_csv(self.path, self.table)

    def flush(self) -> None:
        """Event files to disk and the CSV rewritten: what a checkpoint covers is readable."""
        if not self.ranks.lead:
            return
        if self.board is not None:
            self.board.flush()
        write_csv(self.path, self.table)

    def close(self) -> None:
        """Flush and close the event file (a later entry opens a new one)."""
        self.flush()
        if self.board is not None:
            self.board.close()
