"""The training loop: objective, Adam with warmup from 0, clipping, EMA, evaluation, checkpoints.

In: a checked program with a `train` block, its `Dataset`, a run directory and a device. Out, in
the run directory: `checkpoint.safetensors` (everything needed to resume: weights, EMA weights,
optimizer moments, replay buffer, generator states, data statistics, iteration), its readable
twin `checkpoint.json`, `energy.safetensors` (the EMA weights in the format `ebmspec compile`'s
module loads) and `metrics.jsonl` (one JSON object per logged window and per evaluation).

Reproducibility: all randomness comes from two explicit generators (data batches + transforms,
and the chains) whose states are checkpointed; evaluation uses its own generator seeded by the
iteration. A run killed at any point and resumed from its last checkpoint therefore ends with the
same parameters as an uninterrupted run (tests/runtime/test_resume.py).

Divergence: a non-finite loss or |loss| > 1e8 (ALGORITHMS.md 2.4, JEM practice) restores the last
checkpoint, halves the learning rate and goes on; after `MAX_ROLLBACKS` it gives up. The
`KEEP_CHECKPOINTS - 1` checkpoints before the last stay in `history/`: when the loss diverges again
before a new checkpoint is reached, the restored one was already on a diverging path and the next
rollback goes one checkpoint further back.

Best weights: each evaluation that beats the best so far on the spec's metric (`best_metric`:
the worse of classification accuracy - sample-based when the spec predicts by samples - and
generation accuracy when it evaluates both) writes the EMA weights to `best.safetensors`
(`ebmspec eval/sample --best` read them).
"""

from __future__ import annotations

import copy
import json
import math
import os
import signal
import threading
import time
from dataclasses import dataclass
from pathlib import Path

import torch

from ebmspec import ir
from ebmspec.runtime import checkpoint as ckpt
from ebmspec.runtime.batches import (
    data_stats,
    encode,
    flatten_stats,
    test_split,
    unflatten_stats,
)
from ebmspec.runtime.energy import lower_energy, variable_table
from ebmspec.runtime.objectives import Negatives, contrastive_loss, impute, jem_loss
from ebmspec.runtime.params import save_parameters
from ebmspec.runtime.sampling import sampler_table
from ebmspec.runtime.transforms import Pipeline, fit_transforms

DIVERGED = 1e8
MAX_ROLLBACKS = 8
# Halving (not /10): a dSprites run at lr 5e-4 that diverged once went on learning at 2.5e-4,
# while /10 slowed it to a crawl.
ROLLBACK_LR_FACTOR = 0.5
EVAL_EXAMPLES = 500  # periodic evaluation uses this many test examples; `ebmspec eval` uses all
KEEP_CHECKPOINTS = 3  # the last checkpoint and the two before it (in history/)


# Generation metrics of an evaluation (runtime/generation.py), higher is better.
SAMPLE_QUALITY = ("generation_accuracy", "generation_worst")


def best_metric(result: dict) -> str | None:
    """The metric that picks the best weights: the worse of sample-based accuracy (else
    energy-based) and generation accuracy, when the spec evaluates both - a model must
    classify and generate - else whichever it evaluates."""
    accuracy = next((k for k in ("accuracy_samples", "accuracy_energy") if k in result), None)
    if accuracy is not None and "generation_accuracy" in result:
        return "score"
    return accuracy or ("generation_accuracy" if "generation_accuracy" in result else None)


def score(result: dict) -> dict:
    """`result` with `score` = min(classification accuracy, generation accuracy) when both."""
    accuracy = next((k for k in ("accuracy_samples", "accuracy_energy") if k in result), None)
    if accuracy is None or "generation_accuracy" not in result:
        return result
    return result | {"score": min(result[accuracy], result["generation_accuracy"])}


class TrainingDiverged(Exception):
    """The loss kept blowing up after every rollback."""


@dataclass(frozen=True)
class Settings:
    """The `train` block, flattened (profile and --set overrides already applied)."""

    objective: str
    sampler: str
    steps: int
    buffer: int
    reinit: float
    alpha: float
    labels: tuple[str, ...]
    generative: str
    optimizer: str
    lr: float
    warmup: int
    decay: str
    betas: tuple[float, float]
    weight_decay: float
    momentum: float
    batch: int
    iterations: int
    ema: float
    clip_grad: float | None
    energy_l2: float
    grad_penalty: float
    eval_every: int
    checkpoint_every: int
    seed: int

    @classmethod
    def of(cls, program: ir.Program) -> Settings:
        train = program.train
        objective = dict(train.objective.args)
        optimizer = dict(train.optimizer.args) if train.optimizer is not None else {}
        settings = dict(train.settings)
        sampler = objective.get("sampler") or program.samplers[0].name
        label = objective.get("label")
        # jem without `label`: the checker allowed it only when every discrete variable is an
        # observed label, and then y is all of them, enumerated jointly.
        labels = (label,) if label else tuple(v.name for v in program.variables if v.discrete)
        return cls(
            objective=train.objective.name,
            sampler=sampler,
            steps=int(objective.get("steps", 20)),
            buffer=int(objective.get("buffer", 0)),
            reinit=float(objective.get("reinit", 0.0)),
            alpha=float(objective.get("alpha", 1.0)),
            labels=labels,
            generative=str(objective.get("generative", "marginal")),
            optimizer=train.optimizer.name if train.optimizer is not None else "adam",
            lr=float(optimizer.get("lr", 1e-4)),
            warmup=int(optimizer.get("warmup", 0)),
            decay=str(optimizer.get("decay", "none")),
            betas=tuple(optimizer.get("betas", (0.9, 0.999))),
            weight_decay=float(optimizer.get("weight_decay", 0.0)),
            momentum=float(optimizer.get("momentum", 0.0)),
            batch=int(settings["batch"]),
            iterations=int(settings["iterations"]),
            ema=float(settings["ema"]),
            clip_grad=settings["clip_grad"],
            energy_l2=float(settings["energy_l2"]),
            grad_penalty=float(settings["grad_penalty"]),
            eval_every=int(settings["eval_every"]),
            checkpoint_every=int(settings["checkpoint_every"]),
            seed=int(settings["seed"]),
        )


class Monitor:
    """What the trainer reports to (the CLI's live display implements these)."""

    def start(self, total: int, done: int) -> None: ...

    def tick(self, iteration: int, train_seconds: float) -> None:
        """Every iteration (no tensor is read, so it costs no device sync)."""

    def update(self, iteration: int, metrics: dict) -> None: ...

    def evaluated(self, iteration: int, result: dict) -> None: ...

    def warn(self, text: str) -> None: ...


def warmup_factor(iteration: int, warmup: int) -> float:
    """Linear warmup from 0: lr * (iteration + 1) / warmup for the first `warmup` steps."""
    return 1.0 if warmup <= 0 else min(1.0, (iteration + 1) / warmup)


def lr_factor(iteration: int, warmup: int, iterations: int, decay: str = "none") -> float:
    """Warmup, then 1 (`none`) or a cosine from 1 down to 0 at the last iteration (`cosine`)."""
    factor = warmup_factor(iteration, warmup)
    if decay == "cosine" and iteration >= warmup:
        span = max(1, iterations - warmup)
        factor *= 0.5 * (1.0 + math.cos(math.pi * min(1.0, (iteration - warmup) / span)))
    return factor


class Trainer:
    """One training run of `program` on `dataset`, persisted in `run_dir`."""

    def __init__(
        self,
        program: ir.Program,
        dataset,
        run_dir: Path,
        device: str = "cpu",
        monitor: Monitor | None = None,
        evaluate=None,
    ):
        self.program = program
        self.dataset = dataset
        self.run_dir = Path(run_dir)
        self.device = device
        self.monitor = monitor or Monitor()
        self.evaluate_fn = evaluate  # (program, model, split, stats, device, seed, limit) -> dict
        self.s = Settings.of(program)
        self.table = variable_table(program)
        self.sampler = sampler_table(program.sampler(self.s.sampler))
        self.model = lower_energy(program, seed=self.s.seed).to(device)
        self.ema = copy.deepcopy(self.model)
        for parameter in self.ema.parameters():
            parameter.requires_grad_(False)
        self.optimizer = self._optimizer()
        persistent = self.s.objective in ("pcd", "jem")
        jem = self.s.objective == "jem"

        # jem(generative = conditional): chains of p(x | y) keep the labels they were drawn with;
        # `both`: joint chains here, label-keeping ones in `kept_negatives`.
        def chains(kept: tuple) -> Negatives:
            return Negatives(
                self.sampler, self.table, self.s.steps, persistent, self.s.buffer, self.s.reinit,
                kept,
            )  # fmt: skip

        kept = self.s.labels if jem and self.s.generative == "conditional" else ()
        self.negatives = chains(kept)
        both = jem and self.s.generative == "both"
        self.kept_negatives = chains(self.s.labels) if both else None
        self.data_gen = torch.Generator().manual_seed(self.s.seed)
        self.chain_gen = torch.Generator(device=device).manual_seed(self.s.seed + 1)
        self.pipelines = fit_transforms(program.data, dataset.train)
        self.stats: dict = {}
        self.iteration = 0
        self.lr_scale = 1.0
        self.rollbacks = 0
        self.train_seconds = 0.0
        self.last_eval: dict | None = None
        self.best: dict = {}
        self._test_split: dict | None = None
        self._stop = False
        # False from a rollback until the next regular checkpoint: diverging again before it
        # means the restored checkpoint was on the diverging path too.
        self.progressed = True

    @property
    def chain_sets(self) -> list:
        """(checkpoint prefix, Negatives) of every set of negative chains."""
        sets = [("buffer", self.negatives)]
        if self.kept_negatives is not None:
            sets.append(("kept_buffer", self.kept_negatives))
        return sets

    # ---- files ----------------------------------------------------------------------------
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

    def _optimizer(self) -> torch.optim.Optimizer:
        params = list(self.model.parameters())
        if self.s.optimizer == "sgd":
            return torch.optim.SGD(params, lr=0.0, momentum=self.s.momentum)
        return torch.optim.Adam(
            params, lr=0.0, betas=self.s.betas, weight_decay=self.s.weight_decay
        )

    # ---- set-up ---------------------------------------------------------------------------
    def start(self, resume: bool) -> None:
        """Fresh start (data statistics, buffer from the init distributions, checkpoint 0) or
        resume from the run's checkpoint."""
        self.run_dir.mkdir(parents=True, exist_ok=True)
        if resume and self.checkpoint_path.exists():
            self.restore(*ckpt.load_checkpoint(self.checkpoint_path))
            self._truncate_metrics()
            return
        stats_gen = torch.Generator().manual_seed(self.s.seed + 2)
        raw = self.dataset.batch(self.s.batch, stats_gen)
        values, observed = encode(self.table, raw, self.pipelines, stats_gen)
        self.stats = data_stats(self.table, values, observed)
        for _, chains in self.chain_sets:
            chains.start(self.chain_gen, self.stats, self.device)
        self.metrics_path.write_text("", encoding="utf-8")
        self.save()

    def _truncate_metrics(self) -> None:
        """Drop log lines past the checkpoint: the resumed run writes them again."""
        if not self.metrics_path.exists():
            return
        kept = []
        for line in self.metrics_path.read_text(encoding="utf-8").splitlines():
            try:
                if json.loads(line).get("iteration", 0) <= self.iteration:
                    kept.append(line)
            except json.JSONDecodeError:
                break  # a line cut by the kill: everything after it is gone too
        self.metrics_path.write_text("".join(k + "\n" for k in kept), encoding="utf-8")

    # ---- checkpoints ----------------------------------------------------------------------
    def state(self) -> tuple[dict, dict]:
        tensors = {}
        tensors.update(ckpt.with_prefix("model", self.model.state_dict()))
        tensors.update(ckpt.with_prefix("ema", self.ema.state_dict()))
        optim_tensors, groups = ckpt.optimizer_tensors(self.optimizer)
        tensors.update(ckpt.with_prefix("optim", optim_tensors))
        for prefix, chains in self.chain_sets:
            if chains.buffer is not None:
                tensors.update(ckpt.with_prefix(prefix, chains.buffer))
        tensors["rng/data"] = self.data_gen.get_state()
        tensors["rng/chain"] = self.chain_gen.get_state()
        tensors.update(ckpt.with_prefix("stats", flatten_stats(self.stats)))
        for name, pipeline in self.pipelines.items():
            tensors.update(ckpt.with_prefix(f"transform/{name}", pipeline.state()))
        meta = {
            "iteration": self.iteration,
            "iterations": self.s.iterations,
            "lr_scale": self.lr_scale,
            "rollbacks": self.rollbacks,
            "train_seconds": self.train_seconds,
            "optimizer_groups": groups,
            "last_eval": self.last_eval,
            "best": self.best,
        }
        return tensors, meta

    def save(self) -> None:
        """Write the checkpoint; the previous one (at an earlier iteration) moves to history/."""
        tensors, meta = self.state()
        previous = self._checkpoint_iteration()
        if previous is not None and previous < self.iteration:
            self.history_dir.mkdir(exist_ok=True)
            os.replace(
                self.checkpoint_path, self.history_dir / f"checkpoint-{previous:09d}.safetensors"
            )
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
        self.model.load_state_dict(ckpt.under("model", tensors))
        self.ema.load_state_dict(ckpt.under("ema", tensors))
        ckpt.restore_optimizer(
            self.optimizer, ckpt.under("optim", tensors), meta["optimizer_groups"]
        )
        for prefix, chains in self.chain_sets:
            buffer = ckpt.under(prefix, tensors)
            if buffer:
                chains.buffer = {k: v.to(self.device) for k, v in buffer.items()}
        self.data_gen.set_state(tensors["rng/data"])
        self.chain_gen.set_state(tensors["rng/chain"])
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

    # ---- one iteration --------------------------------------------------------------------
    @property
    def done(self) -> bool:
        return self.iteration >= self.s.iterations

    def step(self) -> dict | None:
        """One parameter update; returns its metrics (tensors), or None after a rollback."""
        s = self.s
        raw = self.dataset.batch(s.batch, self.data_gen)
        positive, observed = encode(self.table, raw, self.pipelines, self.data_gen, self.device)
        negative, chains = self.negatives.draw(
            self.model, s.batch, self.chain_gen, self.stats, self.device
        )
        rates = self.negatives.rates(chains)
        kept = None
        if self.kept_negatives is not None:
            kept, kept_chains = self.kept_negatives.draw(
                self.model, s.batch, self.chain_gen, self.stats, self.device
            )
            rates = rates + self.kept_negatives.rates(kept_chains)
        if s.objective == "jem":
            loss, f_pos, f_neg = jem_loss(
                self.model, positive, negative, self.table, s.labels, s.alpha, observed,
                s.energy_l2, s.generative, kept,
            )  # fmt: skip
        else:
            positive = impute(
                self.model, self.sampler, self.table, positive, observed, s.steps,
                self.chain_gen, self.stats,
            )  # fmt: skip
            loss, f_pos, f_neg = contrastive_loss(
                self.model, positive, negative, self.table, s.energy_l2, s.grad_penalty
            )
        value = float(loss.detach())  # one sync per iteration: the divergence check reads it
        if not math.isfinite(value) or abs(value) > DIVERGED:
            self.rollback(value)
            return None
        lr = s.lr * self.lr_scale * lr_factor(self.iteration, s.warmup, s.iterations, s.decay)
        for group in self.optimizer.param_groups:
            group["lr"] = lr
        self.optimizer.zero_grad(set_to_none=True)
        loss.backward()
        if s.clip_grad is not None:
            torch.nn.utils.clip_grad_norm_(self.model.parameters(), s.clip_grad)
        self.optimizer.step()
        self._update_ema()
        self.iteration += 1
        return {
            "loss": value,
            "f_data": f_pos,
            "f_samples": f_neg,
            "lr": lr,
            "accept": rates,
        }

    def _update_ema(self) -> None:
        mu = self.s.ema
        ema = [p for p in self.ema.parameters()]
        live = [p.detach() for p in self.model.parameters()]
        if mu <= 0:
            torch._foreach_copy_(ema, live)
            return
        torch._foreach_mul_(ema, mu)
        torch._foreach_add_(ema, live, alpha=1 - mu)

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
        if not self.progressed and older:
            # Diverged again before the next checkpoint: the last one leads here too.
            os.replace(older[-1], self.checkpoint_path)
        self.restore(*ckpt.load_checkpoint(self.checkpoint_path))
        self.progressed = False
        self.lr_scale, self.rollbacks, self.train_seconds = scale, count, spent
        # A different chain seed: replaying the same random numbers tends to replay the failure.
        self.chain_gen.manual_seed(self.s.seed + 1 + 7919 * count)
        self._truncate_metrics()
        self.monitor.warn(
            f"loss {value:.3g} at iteration {failed_at} (non-finite or |loss| > {DIVERGED:.0e}): "
            f"rolled back to the checkpoint of iteration {self.iteration} and lowered the "
            f"learning rate to {self.s.lr * scale:.3g} (rollback {count} of {MAX_ROLLBACKS})"
        )
        self._log({"iteration": self.iteration, "rollback": count, "loss": value})
        self.save()

    # ---- evaluation -----------------------------------------------------------------------
    def test_split(self) -> dict:
        """The test set in model space (transforms drawn with a fixed generator) + labels."""
        if self._test_split is None:
            self._test_split = test_split(self.table, self.dataset, self.pipelines, self.s.seed)
        return self._test_split

    def run_evaluation(self, limit: int | None = EVAL_EXAMPLES) -> dict | None:
        if self.evaluate_fn is None or self.program.evaluate is None:
            return None
        self.ema.eval()
        result = self.evaluate_fn(
            self.program,
            self.ema,
            self.test_split(),
            self.stats,
            self.device,
            seed=self.s.seed + 5,
            limit=limit,
        )
        result = {"iteration": self.iteration, "train_seconds": round(self.train_seconds, 1)} | {
            k: v for k, v in result.items() if not isinstance(v, torch.Tensor)
        }
        result = score(result)
        self.last_eval = result
        for key in ("accuracy_energy", "accuracy_samples", *SAMPLE_QUALITY, "score"):
            if key in result and result[key] > self.best.get(key, {}).get("value", -1.0):
                self.best[key] = {
                    "value": result[key],
                    "iteration": self.iteration,
                    "train_seconds": round(self.train_seconds, 1),
                }
                if key == best_metric(result):
                    self.save_best(key)
        self._log({"iteration": self.iteration, "eval": result})
        self.monitor.evaluated(self.iteration, result)
        return result

    def save_best(self, key: str) -> None:
        """The EMA weights of the best evaluation so far, as `energy.safetensors` holds them."""
        save_parameters(self.ema, self.run_dir / "best.safetensors", self.program.name)
        ckpt.save_json(self.run_dir / "best.json", {"metric": key, **self.best[key]})

    # ---- the loop -------------------------------------------------------------------------
    def _log(self, entry: dict) -> None:
        with self.metrics_path.open("a", encoding="utf-8") as stream:
            stream.write(json.dumps(entry) + "\n")

    def _request_stop(self, signum, frame) -> None:
        if self._stop:  # a second signal: stop right now
            raise KeyboardInterrupt
        self._stop = True
        self.monitor.warn(
            f"{signal.Signals(signum).name}: stopping after this iteration (checkpoint first); "
            "Ctrl-C again to abort"
        )

    def _catch_stop_signals(self) -> dict:
        """Ctrl-C (SIGINT) and SIGTERM (`kill`, `timeout`, a cluster's scheduler) stop training
        at the next iteration boundary with a checkpoint. Only signals still at their default
        handling are taken over: a SIGINT a shell set to ignored (a background job) stays so."""
        if threading.current_thread() is not threading.main_thread():
            return {}
        previous = {}
        for signum, default in (
            (signal.SIGINT, signal.default_int_handler),
            (signal.SIGTERM, signal.SIG_DFL),
        ):
            if signal.getsignal(signum) is default:
                previous[signum] = signal.signal(signum, self._request_stop)
        return previous

    def run(self) -> dict:
        """Train to `iterations`, evaluating and checkpointing on schedule. Ctrl-C or SIGTERM
        saves a checkpoint at the next iteration boundary and returns (resume with --resume)."""
        s = self.s
        log_every = max(1, min(50, s.iterations // 100))
        window: dict = {}
        previous = self._catch_stop_signals()
        self.monitor.start(s.iterations, self.iteration)
        try:
            while not self.done and not self._stop:
                began = time.perf_counter()
                metrics = self.step()
                self.train_seconds += time.perf_counter() - began
                if metrics is None:
                    window = {}
                    continue
                self._accumulate(window, metrics)
                self.monitor.tick(self.iteration, self.train_seconds)
                # The first windows are short, so a slow schedule shows its loss within minutes.
                first = self.iteration in (1, 10) and self.iteration < log_every
                if self.iteration % log_every == 0 or self.done or first:
                    entry = self._summarise(window)
                    self._log(entry)
                    self.monitor.update(self.iteration, entry)
                    window = {}
                evaluate_now = self.iteration % s.eval_every == 0 or self.done
                if evaluate_now:
                    self.run_evaluation()
                if self.iteration % s.checkpoint_every == 0 or self.done or evaluate_now:
                    self.save()
            if self._stop:
                self.save()
        finally:
            for signum, handler in previous.items():
                signal.signal(signum, handler)
        return {
            "iteration": self.iteration,
            "complete": self.done,
            "train_seconds": self.train_seconds,
            "rollbacks": self.rollbacks,
            "last_eval": self.last_eval,
            "best": self.best,
        }

    def _accumulate(self, window: dict, metrics: dict) -> None:
        window["count"] = window.get("count", 0) + 1
        for key in ("loss", "f_data", "f_samples"):
            window[key] = window.get(key, 0.0) + metrics[key]
        window["lr"] = metrics["lr"]
        rates = metrics["accept"]
        if "accept" not in window:
            window["accept"] = [torch.zeros_like(r) for r in rates]
        window["accept"] = [a + r for a, r in zip(window["accept"], rates, strict=True)]

    def _summarise(self, window: dict) -> dict:
        count = window["count"]
        # The blocks the negative chains run (a block of kept labels drops out).
        names = []
        for _, chains in self.chain_sets:
            suffix = " | labels kept" if chains.kept else ""
            names += [
                f"{k.name}({', '.join(k.variables)}){suffix}" for k, _ in chains.schedule.blocks
            ]
        accept = {
            name: round(float(a) / count, 4)
            for name, a in zip(names, window["accept"], strict=True)
        }
        return {
            "iteration": self.iteration,
            "train_seconds": round(self.train_seconds, 2),
            "loss": float(window["loss"]) / count,
            "f_data": float(window["f_data"]) / count,
            "f_samples": float(window["f_samples"]) / count,
            "lr": window["lr"],
            "accept": accept,
        }
