"""The training loop: objective, Adam with warmup from 0, clipping, EMA, evaluation, checkpoints.

In: a checked program with a `train` block, its `Dataset`, a run directory and a device. Out, in
the run directory: `checkpoint.safetensors` (everything needed to resume: weights, EMA weights,
optimizer moments, replay buffer, generator states, data statistics, iteration), its readable
twin `checkpoint.json`, `energy.safetensors` (the EMA weights in the format `ebmspec compile`'s
module loads) and the log: `metrics.jsonl` (one JSON object per logged window and per
evaluation), `metrics.csv` and TensorBoard event files in `tensorboard/` (`metrics_log`).

The trainer is composed of parts, as Lightning's is of connectors: the objective
(`objectives.OBJECTIVE_CLASSES[name]`, which runs one iteration through `forward` and `apply`),
the checkpoints (`checkpointing.Checkpoints`: files, rollbacks, best weights), the log
(`metrics_log.MetricsLog`) and the signals (`signals.Signals`: Ctrl-C / SIGTERM, the processes'
agreement). The settings, schedule and monitor interface are in `settings`.

Reproducibility: all randomness comes from two explicit generators (data batches + transforms,
and the chains) whose states are checkpointed; evaluation uses its own generator seeded by the
iteration. A run killed at any point and resumed from its last checkpoint therefore ends with the
same parameters as an uninterrupted run (tests/cli/test_train.py kills and resumes one).

Best weights: each evaluation that beats the best so far on the spec's metric (`best_metric`:
the worse of classification accuracy - sample-based when the spec predicts by samples - and
generation accuracy when it evaluates both) writes the EMA weights to `best.safetensors`
(`ebmspec eval/sample --best` read them).
"""

from __future__ import annotations

import copy
import math
import time
from pathlib import Path

import torch

from ebmspec import ir
from ebmspec.runtime.data.encoding import (
    data_stats,
    encode,
    test_split,
)
from ebmspec.runtime.data.transforms import fit_transforms
from ebmspec.runtime.io import checkpoint as ckpt
from ebmspec.runtime.model.energy import lower_energy, variable_table
from ebmspec.runtime.model.enumeration import labelled_rows
from ebmspec.runtime.sampling.capture import CAPTURE_MODES
from ebmspec.runtime.sampling.kernels.jump import shift_groups
from ebmspec.runtime.sampling.sampler import sampler_table
from ebmspec.runtime.seeding import stream
from ebmspec.runtime.training import distributed
from ebmspec.runtime.training.chain_shares import Share
from ebmspec.runtime.training.checkpointing import DIVERGED, Checkpoints
from ebmspec.runtime.training.metrics_log import MetricsLog
from ebmspec.runtime.training.negatives import Negatives
from ebmspec.runtime.training.objectives import OBJECTIVE_CLASSES, SHARDABLE
from ebmspec.runtime.training.settings import (
    LOSS_PARTS,
    SAMPLE_QUALITY,
    Monitor,
    Settings,
    TrainingDiverged,
    best_metric,
    lr_factor,
    score,
    warmup_factor,
)
from ebmspec.runtime.training.signals import Signals

# The names callers import from here.
__all__ = ["Monitor", "Settings", "Trainer", "TrainingDiverged", "lr_factor", "warmup_factor"]

EVAL_EXAMPLES = 500  # periodic evaluation uses this many test examples; `ebmspec eval` uses all


class Trainer:
    """One training run of `program` on `dataset`, persisted in `run_dir`. `capture`: the
    torch.compile mode the negative chains' sweeps run in as graphs (runtime/sampling/capture.py),
    None for the eager loop, "spec" for what the spec's `train.capture` says."""

    def __init__(
        self,
        program: ir.Program,
        dataset,
        run_dir: Path,
        device: str = "cpu",
        monitor: Monitor | None = None,
        evaluate=None,
        ranks: distributed.Ranks | None = None,
        capture: str | None = "spec",
    ):
        self.program = program
        self.dataset = dataset
        self.run_dir = Path(run_dir)
        self.device = device
        self.monitor = monitor or Monitor()
        self.evaluate_fn = evaluate  # (program, model, split, stats, device, seed, limit) -> dict
        self.s = Settings.of(program)
        self.ranks = ranks or distributed.Ranks()
        objective_class = OBJECTIVE_CLASSES[self.s.objective]
        if capture == "spec":
            capture = CAPTURE_MODES[self.s.capture]
        distributed.check(self.s, self.ranks, SHARDABLE)
        self.table = variable_table(program)
        self.sampler = sampler_table(program.sampler(self.s.sampler))
        self.model = lower_energy(program, seed=self.s.seed).to(device)
        self.objective = objective_class(self)
        self.ema = copy.deepcopy(self.model)
        for parameter in self.ema.parameters():
            parameter.requires_grad_(False)
        self.optimizer = self._optimizer()

        def chains(kept: tuple, summed: tuple = ()) -> Negatives:
            size = self.s.buffer // self.ranks.total  # each share its part of the buffer
            persistent = objective_class.negatives == "persistent"
            return Negatives(
                self.sampler, self.table, self.s.steps, persistent, size, self.s.reinit, kept,
                capture, summed,
            )  # fmt: skip

        # Objectives without MCMC (ssm, nll, vera) keep no chains and no buffer.
        kept, second = self.objective.kept()
        sampling = objective_class.negatives is not None
        self.shares = [
            Share(
                index,
                self.ranks.total,
                chains(kept, self.objective.summed) if sampling else None,
                chains(second) if second is not None else None,
                self.s.seed,
                device,
            )  # fmt: skip
            for index in self.ranks.shares
        ]
        self.ddp = distributed.wrap(self.model, self.ranks, device)
        self.data_gen = stream(self.s.seed, "batches")
        self.pipelines = fit_transforms(program.data, dataset.train)
        # Semi-supervised: the rows whose labels are kept (the same on every resume).
        self.labelled = None
        if self.s.labels_per_class:
            self.labelled = labelled_rows(
                dataset.train,
                self.s.labels,
                self.s.labels_per_class,
                stream(self.s.seed, "labelled_rows"),
            )
        self.stats: dict = {}
        self.rows: torch.Tensor | None = None  # the current batch's training rows
        self.iteration = 0
        self.lr_scale = 1.0
        self.rollbacks = 0
        self.train_seconds = 0.0
        self.last_eval: dict | None = None
        self.best: dict = {}
        self._test_split: dict | None = None
        self.checkpoints = Checkpoints(self)
        self.log = MetricsLog(self.run_dir, self.ranks)
        self.signals = Signals(self.ranks, self.monitor)

    # The objectives that run in one share only (ssm, nll, vera, semi-supervised) use this.
    @property
    def chain_gen(self) -> torch.Generator:
        return self.shares[0].chain_gen

    @property
    def chain_sets(self) -> list:
        """(checkpoint prefix, Negatives) of every set of negative chains of this process."""
        return [pair for share in self.shares for pair in share.chain_sets]

    def _optimizer(self) -> torch.optim.Optimizer:
        params = list(self.model.parameters())
        if self.s.optimizer == "sgd":
            return torch.optim.SGD(params, lr=0.0, momentum=self.s.momentum)
        # The fused kernel: one pass over all parameters and no host sync per parameter (the
        # for-loop Adam reads each step count with .item(): 14 syncs an iteration on MNIST).
        fused = all(p.device.type in ("cpu", "cuda") and p.is_floating_point() for p in params)
        return torch.optim.Adam(
            params, lr=0.0, betas=self.s.betas, weight_decay=self.s.weight_decay,
            fused=fused or None,
        )  # fmt: skip

    # ---- set-up ---------------------------------------------------------------------------
    def start(self, resume: bool) -> None:
        """Fresh start (data statistics, buffer from the init distributions, checkpoint 0) or
        resume from the run's checkpoint."""
        self.run_dir.mkdir(parents=True, exist_ok=True)
        if resume and self.checkpoints.path.exists():
            tensors, meta = ckpt.load_checkpoint(self.checkpoints.path)
            self.checkpoints.restore(tensors, meta)
            self.checkpoints.derive(meta)
            self.log.truncate(self.iteration)
            return
        stats_gen = stream(self.s.seed, "data_stats")
        raw = self.dataset.batch(self.s.batch, stats_gen)
        values, observed = encode(self.table, raw, self.pipelines, stats_gen)
        blocks = [row for s in self.program.samplers for row in sampler_table(s)["blocks"]]
        groups = shift_groups(blocks, self.table)
        self.stats = data_stats(self.table, values, observed, groups)
        for share in self.shares:
            share.start(self.stats, self.device)
        self.log.start()
        self.checkpoints.save()

    # ---- one iteration --------------------------------------------------------------------
    @property
    def done(self) -> bool:
        return self.iteration >= self.s.iterations

    def step(self) -> dict | None:
        """One parameter update; returns its metrics (tensors), or None after a rollback."""
        raw, self.rows = self.dataset.batch(self.s.batch, self.data_gen, rows=True)
        positive, observed = encode(self.table, raw, self.pipelines, self.data_gen, self.device)
        return self.objective.step(self, positive, observed)

    def labelled_batch(self) -> dict:
        """A batch of the rows whose labels a semi-supervised run keeps, in model space."""
        size = min(self.s.batch, len(self.labelled))
        pick = self.labelled[torch.randperm(len(self.labelled), generator=self.data_gen)[:size]]
        raw = {name: values[pick] for name, values in self.dataset.train.items()}
        labelled, _ = encode(self.table, raw, self.pipelines, self.data_gen, self.device)
        return labelled

    def forward(self, compute):
        """`compute(model)`: through DistributedDataParallel when there are several processes
        (one forward and one backward per iteration, gradients averaged over the shares)."""
        return compute(self.model) if self.ddp is None else self.ddp(compute)

    def apply(self, loss: torch.Tensor, parts: dict, rates: list) -> dict | None:
        """One optimizer step on `loss` (its `parts` are logged beside it); the iteration's
        metrics, or None after a rollback."""
        s = self.s
        # One sync per iteration: the divergence check reads the loss. Several processes agree
        # on it (and on a stop request) in one all-reduce, so they roll back and stop together.
        value, parts = self.signals.agree(loss, parts)
        if not math.isfinite(value) or abs(value) > DIVERGED:
            if self.iteration == 0 and math.isfinite(value):
                # The initial weights: a rollback restores them and the loss comes back, 8 times.
                raise TrainingDiverged(
                    f"the loss is {value:.3g} at the first iteration, before any update (past "
                    f"{DIVERGED:.0e}): the energy's values on this data are too large to train",
                    "standardize the real variables (`transform x: standardize` under `data`), "
                    "lower train.energy_l2, or scale the energy's terms down",
                )
            self.checkpoints.rollback(value)
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
        return {"loss": value, **parts, "lr": lr, "accept": rates}

    def _update_ema(self) -> None:
        mu = self.s.ema
        ema = [p for p in self.ema.parameters()]
        live = [p.detach() for p in self.model.parameters()]
        if mu <= 0:
            torch._foreach_copy_(ema, live)
            return
        torch._foreach_mul_(ema, mu)
        torch._foreach_add_(ema, live, alpha=1 - mu)

    # ---- evaluation -----------------------------------------------------------------------
    def test_split(self) -> dict:
        """The test set in model space (transforms drawn with a fixed generator) + labels."""
        if self._test_split is None:
            self._test_split = test_split(self.table, self.dataset, self.pipelines, self.s.seed)
        return self._test_split

    def run_evaluation(self, limit: int | None = EVAL_EXAMPLES) -> dict | None:
        """Every process predicts its share of the examples; rank 0 reduces and reports."""
        if self.evaluate_fn is None or self.program.evaluate is None:
            return None
        self.ema.eval()
        sharded = {"ranks": self.ranks} if self.ranks.world > 1 else {}
        result = self.evaluate_fn(
            self.program, self.ema, self.test_split(), self.stats, self.device,
            seed=self.s.seed, limit=limit, **sharded,
        )  # fmt: skip
        if result is None:  # not rank 0 of a sharded evaluation
            return None
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
                    self.checkpoints.save_best(key)
        self.log.write({"iteration": self.iteration, "eval": result})
        self.monitor.evaluated(self.iteration, result)
        return result

    # ---- the loop -------------------------------------------------------------------------

    def run(self) -> dict:
        """Train to `iterations`, evaluating and checkpointing on schedule. Ctrl-C or SIGTERM
        saves a checkpoint at the next iteration boundary and returns (resume with --resume)."""
        s = self.s
        log_every = max(1, min(50, s.iterations // 100))
        window: dict = {}
        previous = self.signals.catch()
        self.monitor.start(s.iterations, self.iteration)
        try:
            while not self.done and not self.signals.stopping:
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
                    self.log.write(entry)
                    self.monitor.update(self.iteration, entry)
                    window = {}
                evaluate_now = self.iteration % s.eval_every == 0 or self.done
                if evaluate_now:
                    self.run_evaluation()
                    self.log.samples(self)  # TensorBoard's sample grid (image variables)
                if self.iteration % s.checkpoint_every == 0 or self.done or evaluate_now:
                    # The logs first: what a checkpoint restores to is on disk in them.
                    self.log.flush()
                    self.checkpoints.save()
            if self.signals.stopping:
                self.log.flush()
                self.checkpoints.save()
        finally:
            self.log.close()  # also on a second Ctrl-C or a divergence that gives up
            self.signals.release(previous)
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
        for key in ("loss", *LOSS_PARTS):
            if key in metrics:
                window[key] = window.get(key, 0.0) + metrics[key]
        window["lr"] = metrics["lr"]
        rates = metrics["accept"]
        if "accept" not in window:
            window["accept"] = [torch.zeros_like(r) for r in rates]
        window["accept"] = [a + r for a, r in zip(window["accept"], rates, strict=True)]

    def _summarise(self, window: dict) -> dict:
        count = window["count"]
        # The blocks the negative chains run (a block of kept labels drops out); the rates are
        # means over this process's shares.
        names = [n for _, chains in self.shares[0].chain_sets for n in chains.rate_names()]
        accept = {
            name: round(float(a) / count, 4)
            for name, a in zip(names, window["accept"], strict=True)
        }
        return {
            "iteration": self.iteration,
            "train_seconds": round(self.train_seconds, 2),
            "loss": float(window["loss"]) / count,
            **{key: float(window[key]) / count for key in LOSS_PARTS if key in window},
            "lr": window["lr"],
            "accept": accept,
        }
