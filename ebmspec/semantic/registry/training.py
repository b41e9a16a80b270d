"""Objectives, optimizers and `train { }` settings.

In: nothing (static tables; the objectives' rows are declared by their runtime modules). Out:
the rows the checker looks names up in.
"""

from __future__ import annotations

from ebmspec.semantic.registry.signatures import Param as P
from ebmspec.semantic.registry.signatures import Signature, table

# The arguments of the objectives that run MCMC chains, and of those that keep them in a buffer.
CHAIN_ARGS = (P("sampler", "sampler?", None), P("steps", "posint", 20))
# How the objectives with a data term over latent (unobserved) variables sum them out: `exact`
# (logsumexp over their values, site by site where f is affine in them), `fresh` (a clamped chain
# from the init distribution every iteration, `steps` sweeps) or `persistent` (one clamped chain
# per training example, continued each time the example is drawn); `auto`: exact where it fits
# within MAX_ENUMERABLE, else persistent (fresh for datasets drawn anew every batch).
LATENT_ARGS = (P("latents", "choice", "auto", choices=("auto", "exact", "fresh", "persistent")),)
BUFFER_ARGS = (P("buffer", "posint", 10000), P("reinit", "prob", 0.05))
# Objectives (`objective = ...`): declared by their runtime modules, one per file of
# `ebmspec.runtime.training.objectives` (its `SIGNATURE`), when `ebmspec.api` imports that package.
OBJECTIVES: dict[str, Signature] = {}
OPTIMIZERS = table(
    Signature(
        "adam",
        (
            P("lr", "posfloat", 1e-4),
            P("warmup", "nonneg_int", 0),
            P("betas", "betas", (0.9, 0.999)),
            P("weight_decay", "nonneg_float", 0.0),
            P("decay", "choice", "none", choices=("none", "cosine")),
        ),
        "Adam with linear warmup from 0, then a constant or cosine-decayed rate",
    ),
    Signature(
        "sgd",
        (
            P("lr", "posfloat", 1e-2),
            P("momentum", "nonneg_float", 0.0),
            P("warmup", "nonneg_int", 0),
            P("decay", "choice", "none", choices=("none", "cosine")),
        ),
        "stochastic gradient descent",
    ),
)
TRAIN_SETTINGS = {
    "objective": P("objective", "objective"),
    "optimizer": P("optimizer", "optimizer", None),
    "batch": P("batch", "posint", 100),
    "iterations": P("iterations", "posint", 1000),
    "ema": P("ema", "prob", 0.0),
    "clip_grad": P("clip_grad", "posfloat?", None),
    "energy_l2": P("energy_l2", "nonneg_float", 0.0),
    "grad_penalty": P("grad_penalty", "nonneg_float", 0.0),
    "eval_every": P("eval_every", "posint", 1000),
    "checkpoint_every": P("checkpoint_every", "posint", 1000),
    "seed": P("seed", "nonneg_int", 0),
    # The negative chains' sweeps as one torch.compile graph each (runtime/sampling/capture.py),
    # what `ebmspec train --capture compile` asks for; the command-line flag overrides it.
    "capture": P("capture", "choice", "off", choices=("off", "compile")),
    # Semi-supervised training (jem, vera): the labels of k training examples per class are kept
    # (a seeded choice), the rest are hidden; the cross-entropy runs on a batch of the labelled
    # ones, the generative term on batches of all. `label_entropy`: + beta * mean H(p(y | x)) on
    # the (unlabelled) batch (paper 001's entropy minimisation).
    "labels_per_class": P("labels_per_class", "posint?", None),
    "label_entropy": P("label_entropy", "nonneg_float", 0.0),
}
MAX_ENUMERABLE = 65536
