"""A training run's checkpoints: the checkpoint (and the older ones kept in `history/` for deeper
rollbacks), `energy.safetensors`, `best.safetensors`; saving, restoring and rolling back.
`Checkpoints` is a part of `trainer.Trainer` (as Lightning's checkpoint connector is of its
trainer): it reads and writes the trainer's state (model, EMA, optimizer, the objective's own
state, chains, generators, statistics, transforms, counters) and nothing else keeps any.

Divergence: a non-finite loss or |loss| > 1e8 (docs/design/ALGORITHMS.md 2.4, JEM practice)
restores the last checkpoint, halves the learning rate and goes on; after `MAX_ROLLBACKS` it gives
up. The `KEEP_CHECKPOINTS - 1` checkpoints before the last stay in `history/`: when the loss
diverges again before a new checkpoint is reached, the restored one was already on a diverging path
and the next rollback goes one checkpoint further back.
"""

from __future__ import annotations

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


class Checkpoints:
    """Checkpoint, history and best weights of `trainer`'s run folder."""

    def __init__(self, trainer) -> None:
        self.trainer = trainer
        self.path: Path = trainer.run_dir / "checkpoint.safetensors"
        self.history_dir: Path = trainer.run_dir / "history"
        # False from a rollback until the next regular checkpoint: diverging again before it
        # means the restored checkpoint was on the diverging path too.
        self.progressed = True

    def history(self) -> list[Path]:
        """Older checkpoints kept for deeper rollbacks, oldest first."""
        if not self.history_dir.is_dir():
            return []
        return sorted(self.history_dir.glob("checkpoint-*.safetensors"))

    def state(self) -> tuple[dict, dict]:
        """(tensors, JSON meta) of everything a resumed run needs."""
        t = self.trainer
        tensors = {}
        tensors.update(ckpt.with_prefix("model", t.model.state_dict()))
        tensors.update(ckpt.with_prefix("ema", t.ema.state_dict()))
        optim_tensors, groups = ckpt.optimizer_tensors(t.optimizer)
        tensors.update(ckpt.with_prefix("optim", optim_tensors))
        # Every share's buffers and chain generator; with several processes rank 0 gathers them.
        local = {key: value for share in t.shares for key, value in share.state().items()}
        tensors.update(distributed.gather(local, t.ranks))
        own = t.objective.state()
        objective_groups = None
        if own is not None:
            own_tensors, objective_groups = own
            tensors.update(ckpt.with_prefix(t.objective.name, own_tensors))
        tensors["rng/data"] = t.data_gen.get_state()
        tensors.update(ckpt.with_prefix("stats", flatten_stats(t.stats)))
        for name, pipeline in t.pipelines.items():
            tensors.update(ckpt.with_prefix(f"transform/{name}", pipeline.state()))
        meta = {
            "iteration": t.iteration,
            "iterations": t.s.iterations,
            "shares": t.ranks.total,
            "lr_scale": t.lr_scale,
            "rollbacks": t.rollbacks,
            "train_seconds": t.train_seconds,
            "optimizer_groups": groups,
            # An objective with state of its own (vera's generator) keeps its optimizers' groups.
            **({} if own is None else {f"{t.objective.name}_optimizer_groups": objective_groups}),
            "last_eval": t.last_eval,
            "best": t.best,
        }
        return tensors, meta

    def save(self) -> None:
        """Write the checkpoint; the previous one (at an earlier iteration) moves to history/.
        Every process calls it; rank 0 writes."""
        t = self.trainer
        tensors, meta = self.state()
        if not t.ranks.lead:
            return
        previous = self._checkpoint_iteration()
        if previous is not None and previous < t.iteration:
            self.history_dir.mkdir(exist_ok=True)
            kept = self.history_dir / f"checkpoint-{previous:09d}.safetensors"
            # A second name for the previous checkpoint, not a move: until the atomic write
            # below replaces it, checkpoint.safetensors must exist (a kill in between must leave
            # a checkpoint to resume from).
            kept.unlink(missing_ok=True)
            try:
                os.link(self.path, kept)
            except OSError:  # a file system without hard links
                shutil.copy2(self.path, kept)
            for old in self.history()[: -(KEEP_CHECKPOINTS - 1)]:
                old.unlink()
            self.progressed = True
        ckpt.save_checkpoint(self.path, tensors, meta)
        self.derive(meta)

    def derive(self, meta: dict) -> None:
        """The files made from the checkpoint: `energy.safetensors` and `checkpoint.json`. A
        resume writes them again: a kill between the checkpoint and them left older ones."""
        t = self.trainer
        if not t.ranks.lead:
            return
        save_parameters(t.ema, t.run_dir / "energy.safetensors", t.program.name)
        ckpt.save_json(t.run_dir / "checkpoint.json", meta | {"complete": t.done})

    def _checkpoint_iteration(self) -> int | None:
        if not self.path.exists():
            return None
        try:
            return int(ckpt.read_meta(self.path)["iteration"])
        except (ckpt.CheckpointError, KeyError, ValueError):
            return None

    def restore(self, tensors: dict, meta: dict) -> None:
        """The trainer's state back to the checkpoint's `tensors` and `meta`."""
        t = self.trainer
        distributed.check_shares(meta, t.ranks)
        t.model.load_state_dict(ckpt.under("model", tensors))
        t.ema.load_state_dict(ckpt.under("ema", tensors))
        ckpt.restore_optimizer(t.optimizer, ckpt.under("optim", tensors), meta["optimizer_groups"])
        for share in t.shares:
            share.restore(tensors, t.device)
        groups = f"{t.objective.name}_optimizer_groups"  # written only by objectives with state
        if groups in meta:
            t.objective.restore(ckpt.under(t.objective.name, tensors), meta[groups])
        t.data_gen.set_state(tensors["rng/data"])
        t.stats = unflatten_stats(ckpt.under("stats", tensors))
        for name, pipeline in t.pipelines.items():
            state = ckpt.under(f"transform/{name}", tensors)
            t.pipelines[name] = Pipeline(pipeline.steps, state=state)
        t.iteration = int(meta["iteration"])
        t.lr_scale = float(meta["lr_scale"])
        t.rollbacks = int(meta["rollbacks"])
        t.train_seconds = float(meta["train_seconds"])
        t.last_eval = meta.get("last_eval")
        t.best = meta.get("best") or {}

    def rollback(self, value: float) -> None:
        """Back to the last checkpoint with half the learning rate."""
        t = self.trainer
        failed_at = t.iteration
        scale, count = t.lr_scale * ROLLBACK_LR_FACTOR, t.rollbacks + 1
        if count > MAX_ROLLBACKS:
            raise TrainingDiverged(
                f"the loss diverged ({value:.3g}) at iteration {failed_at} after {MAX_ROLLBACKS} "
                f"rollbacks (learning rate now x{t.lr_scale:.0e})"
            )
        spent = t.train_seconds  # the lost iterations took time too: keep counting it
        older = self.history()
        if not self.progressed and older and t.ranks.lead:
            # Diverged again before the next checkpoint: the last one leads here too.
            os.replace(older[-1], self.path)
        distributed.barrier(t.ranks)  # the others read the checkpoint rank 0 chose
        self.restore(*ckpt.load_checkpoint(self.path))
        self.progressed = False
        t.lr_scale, t.rollbacks, t.train_seconds = scale, count, spent
        for share in t.shares:
            share.reseed(t.s.seed, count)
        t.log.truncate(t.iteration)
        t.monitor.warn(
            f"loss {value:.3g} at iteration {failed_at} (non-finite or |loss| > {DIVERGED:.0e}): "
            f"rolled back to the checkpoint of iteration {t.iteration} and lowered the "
            f"learning rate to {t.s.lr * scale:.3g} (rollback {count} of {MAX_ROLLBACKS})"
        )
        t.log.write({"iteration": t.iteration, "rollback": count, "loss": value})
        self.save()

    def save_best(self, key: str) -> None:
        """The EMA weights of the best evaluation so far, as `energy.safetensors` holds them."""
        t = self.trainer
        save_parameters(t.ema, t.run_dir / "best.safetensors", t.program.name)
        ckpt.save_json(t.run_dir / "best.json", {"metric": key, **t.best[key]})
