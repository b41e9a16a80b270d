"""What a training run is told and reports: the flattened `train` block (`Settings`), the
learning-rate schedule, the `Monitor` interface the CLI's display implements, and the metric that
picks the best weights.

In: a checked program with a `train` block. Out: plain values (no tensors).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from ebmspec import ir

# The parts of the loss an objective reports beside it (metrics.jsonl keys, in display order):
# mean f on data and on negative samples (pcd, cd, jem); ssm's 1/2 |score|^2 and trace terms;
# nll's log Z of an enumerated model; vera's generator entropy surrogate and sigma.
LOSS_PARTS = (
    "f_data",
    "f_samples",
    "score_norm",
    "score_trace",
    "log_z",
    "gen_entropy",
    "gen_sigma",
    "pseudo_ll",
    "nce_accuracy",
)

# Generation metrics of an evaluation (runtime/evaluation/generation.py), higher is better.
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
    """The loss kept blowing up after every rollback (or blew up before any update); `help`
    replaces the usual advice when there is better."""

    def __init__(self, message: str, help: str | None = None) -> None:
        super().__init__(message)
        self.help = help


@dataclass(frozen=True)
class Settings:
    """The `train` block, flattened (profile and --set overrides already applied)."""

    objective: str
    sampler: str
    steps: int
    buffer: int
    reinit: float
    alpha: float
    projections: int
    ssm_noise: float
    labels: tuple[str, ...]
    generative: str
    optimizer: str
    lr: float
    warmup: int
    decay: str
    capture: str  # "off" or "compile": the spec's train.capture
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
    labels_per_class: int | None
    label_entropy: float

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
        labels = (
            (label,)
            if label
            else tuple(v.name for v in program.variables if v.discrete and v.observed)
        )
        return cls(
            objective=train.objective.name,
            sampler=sampler,
            steps=int(objective.get("steps", 20)),
            buffer=int(objective.get("buffer", 0)),
            reinit=float(objective.get("reinit", 0.0)),
            alpha=float(objective.get("alpha", 1.0)),
            projections=int(objective.get("projections", 1)),
            ssm_noise=float(objective.get("noise", 0.0)),
            labels=labels,
            generative=str(objective.get("generative", "marginal")),
            optimizer=train.optimizer.name if train.optimizer is not None else "adam",
            lr=float(optimizer.get("lr", 1e-4)),
            warmup=int(optimizer.get("warmup", 0)),
            decay=str(optimizer.get("decay", "none")),
            capture=str(settings.get("capture", "off")),
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
            labels_per_class=settings.get("labels_per_class"),
            label_entropy=float(settings.get("label_entropy", 0.0)),
        )


class Monitor:
    """What the trainer reports to (the CLI's live display implements these)."""

    def start(self, total: int, done: int) -> None: ...

    def tick(self, iteration: int, train_seconds: float) -> None:
        """Every iteration (no tensor is read, so it costs no device sync)."""

    def update(self, iteration: int, metrics: dict) -> None: ...

    def evaluated(self, iteration: int, result: dict) -> None: ...

    def warn(self, text: str) -> None: ...

    def stop(self) -> None: ...


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
