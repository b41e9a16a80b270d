"""A training run's files: the checkpoint (and the older ones kept in `history/` for deeper
rollbacks), `energy.safetensors`, `best.safetensors`, `metrics.jsonl`; saving, restoring and
rolling back. Mixed into `trainer.Trainer`, whose attributes (model, EMA, optimizer, chains,
generators, statistics, transforms, counters) it reads and writes.

Divergence: a non-finite loss or |loss| > 1e8 (docs/design/ALGORITHMS.md 2.4, JEM practice)
restores the last checkpoint, halves the learning rate and goes on; after `MAX_ROLLBACKS` it gives
up. The `KEEP_CHECKPOINTS - 1` checkpoints before the last stay in `history/`: when the loss
diverges again before a new checkpoint is reached, the restored one was already on a diverging path
and the next rollback goes one checkpoint further back.
"""

from __future__ import annotations

import json
import os
import shutil
from pathlib import Path

from ebmspec.runtime.data.transforms import Pipeline
from ebmspec.runtime.io import checkpoint as ckpt
from ebmspec.runtime.io.reader import flatten_stats, unflatten_stats
from ebmspec.runtime.io.weights import save_parameters
from ebmspec.runtime.training import distributed
from ebmspec.runtime.training.settings import TrainingDiverged

DIVERGED = 1e8
MAX_ROLLBACKS = 8
# Halving (not /10): a dSprites run at lr 5e-4 that diverged once went on learning at 2.5e-4,
# while /10 slowed it to a crawl.
ROLLBACK_LR_FACTOR = 0.5
KEEP_CHECKPOINTS = 3  # the last checkpoint and the two before it (in history/)


class RunState:
    """Checkpoint, history, best weights and the metrics log of a `Trainer`."""

    @property
    def checkpoint_path(self) -> Path:
        return self.run_dir / "checkpoint.safetensors"

    @property
    def metrics_path(self) -> Path:
        return self.run_dir / "metrics.jsonl"

    @property
    def history_dir(self) -> Path:
        return self.run_dir / "history"

    def history(self) -> list[Path]:
        """Older checkpoints kept for deeper rollbacks, oldest first."""
        if not self.history_dir.is_dir():
            return []
        return sorted(self.history_dir.glob("checkpoint-*.safetensors"))

    def _truncate_metrics(self) -> None:
        """Drop log lines past the checkpoint: the resumed run writes them again. Rollback lines
        stay: they record failures, which a deeper rollback does not undo (a rollback to
        iteration 0 used to erase the line of an earlier one to iteration 10)."""
        if not self.ranks.lead or not self.metrics_path.exists():
            return
        kept = []
        for line in self.metrics_path.read_text(encoding="utf-8").splitlines():
            try:
                entry = json.loads(line)
                if "rollback" in entry or entry.get("iteration", 0) <= self.iteration:
                    kept.append(line)
            except json.JSONDecodeError:
                break  # a line cut by the kill: everything after it is gone too
        self.metrics_path.write_text("".join(k + "\n" for k in kept), encoding="utf-8")

    def state(self) -> tuple[dict, dict]:
        tensors = {}
        tensors.update(ckpt.with_prefix("model", self.model.state_dict()))
        tensors.update(ckpt.with_prefix("ema", self.ema.state_dict()))
        optim_tensors, groups = ckpt.optimizer_tensors(self.optimizer)
        tensors.update(ckpt.with_prefix("optim", optim_tensors))
        # Every share's buffers and chain generator; with several processes rank 0 gathers them.
        local = {key: value for share in self.shares for key, value in share.state().items()}
        tensors.update(distributed.gather(local, self.ranks))
        vera_groups = None
        if self.vera is not None:
            vera_tensors, vera_groups = self.vera.state()
            tensors.update(ckpt.with_prefix("vera", vera_tensors))
        tensors["rng/data"] = self.data_gen.get_state()
        tensors.update(ckpt.with_prefix("stats", flatten_stats(self.stats)))
        for name, pipeline in self.pipelines.items():
            tensors.update(ckpt.with_prefix(f"transform/{name}", pipeline.state()))
        meta = {
            "iteration": self.iteration,
            "iterations": self.s.iterations,
            "shares": self.ranks.total,
            "lr_scale": self.lr_scale,
            "rollbacks": self.rollbacks,
            "train_seconds": self.train_seconds,
            "optimizer_groups": groups,
            "vera_optimizer_groups": vera_groups,
            "last_eval": self.last_eval,
            "best": self.best,
        }
        return tensors, meta

    def save(self) -> None:
        """Write the checkpoint; the previous one (at an earlier iteration) moves to history/.
        Every process calls it; rank 0 writes."""
        tensors, meta = self.state()
        if not self.ranks.lead:
            return
        previous = self._checkpoint_iteration()
        if previous is not None and previous < self.iteration:
            self.history_dir.mkdir(exist_ok=True)
            kept = self.history_dir / f"checkpoint-{previous:09d}.safetensors"
            # A second name for the previous checkpoint, not a move: until the atomic write
            # below replaces it, checkpoint.safetensors must exist (a kill in between used to
            # leave a run with no checkpoint to resume from).
            kept.unlink(missing_ok=True)
            try:
                os.link(self.checkpoint_path, kept)
            except OSError:  # a file system without hard links
                shutil.copy2(self.checkpoint_path, kept)
            for old in self.history()[: -(KEEP_CHECKPOINTS - 1)]:
                old.unlink()
            self.progressed = True
        ckpt.save_checkpoint(self.checkpoint_path, tensors, meta)
        save_parameters(self.ema, self.run_dir / "energy.safetensors", self.program.name)
        ckpt.save_json(self.run_dir / "checkpoint.json", meta | {"complete": self.done})

    def _checkpoint_iteration(self) -> int | None:
        if not self.checkpoint_path.exists():
            return None
        try:
            return int(ckpt.read_meta(self.checkpoint_path)["iteration"])
        except (ckpt.CheckpointError, KeyError, ValueError):
            return None

    def restore(self, tensors: dict, meta: dict) -> None:
        distributed.check_shares(meta, self.ranks)
        self.model.load_state_dict(ckpt.under("model", tensors))
        self.ema.load_state_dict(ckpt.under("ema", tensors))
        ckpt.restore_optimizer(
            self.optimizer, ckpt.under("optim", tensors), meta["optimizer_groups"]
        )
        for share in self.shares:
            share.restore(tensors, self.device)
        if self.vera is not None:
            self.vera.restore(ckpt.under("vera", tensors), meta["vera_optimizer_groups"])
        self.data_gen.set_state(tensors["rng/data"])
        self.stats = unflatten_stats(ckpt.under("stats", tensors))
        for name, pipeline in self.pipelines.items():
            state = ckpt.under(f"transform/{name}", tensors)
            self.pipelines[name] = Pipeline(pipeline.steps, state=state)
        self.iteration = int(meta["iteration"])
        self.lr_scale = float(meta["lr_scale"])
        self.rollbacks = int(meta["rollbacks"])
        self.train_seconds = float(meta["train_seconds"])
        self.last_eval = meta.get("last_eval")
        self.best = meta.get("best") or {}

    def rollback(self, value: float) -> None:
        """Back to the last checkpoint with half the learning rate."""
        failed_at = self.iteration
        scale, count = self.lr_scale * ROLLBACK_LR_FACTOR, self.rollbacks + 1
        if count > MAX_ROLLBACKS:
            raise TrainingDiverged(
                f"the loss diverged ({value:.3g}) at iteration {failed_at} after {MAX_ROLLBACKS} "
                f"rollbacks (learning rate now x{self.lr_scale:.0e})"
            )
        spent = self.train_seconds  # the lost iterations took time too: keep counting it
        older = self.history()
        if not self.progressed and older and self.ranks.lead:
            # Diverged again before the next checkpoint: the last one leads here too.
            os.replace(older[-1], self.checkpoint_path)
        distributed.barrier(self.ranks)  # the others read the checkpoint rank 0 chose
        self.restore(*ckpt.load_checkpoint(self.checkpoint_path))
        self.progressed = False
        self.lr_scale, self.rollbacks, self.train_seconds = scale, count, spent
        for share in self.shares:
            share.reseed(self.s.seed, count)
        self._truncate_metrics()
        self.monitor.warn(
            f"loss {value:.3g} at iteration {failed_at} (non-finite or |loss| > {DIVERGED:.0e}): "
            f"rolled back to the checkpoint of iteration {self.iteration} and lowered the "
            f"learning rate to {self.s.lr * scale:.3g} (rollback {count} of {MAX_ROLLBACKS})"
        )
        self._log({"iteration": self.iteration, "rollback": count, "loss": value})
        self.save()

    def save_best(self, key: str) -> None:
        """The EMA weights of the best evaluation so far, as `energy.safetensors` holds them."""
        save_parameters(self.ema, self.run_dir / "best.safetensors", self.program.name)
        ckpt.save_json(self.run_dir / "best.json", {"metric": key, **self.best[key]})

    def _log(self, entry: dict) -> None:
        if not self.ranks.lead:
            return
        with self.metrics_path.open("a", encoding="utf-8") as stream:
            stream.write(json.dumps(entry) + "\n")
