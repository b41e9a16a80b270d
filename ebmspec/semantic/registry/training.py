"""Objectives, optimizers and `train { }` settings.

In: nothing (static tables). Out: the rows the checker looks names up in.
"""

from __future__ import annotations

from ebmspec.semantic.registry.signatures import Param as P
from ebmspec.semantic.registry.signatures import Signature, table

_CHAIN = (P("sampler", "sampler?", None), P("steps", "posint", 20))
_BUFFER = (P("buffer", "posint", 10000), P("reinit", "prob", 0.05))
OBJECTIVES = table(
    Signature(
        "pcd", _CHAIN + _BUFFER, "persistent contrastive divergence (replay buffer of x and y)"
    ),
    Signature("cd", _CHAIN, "short-run contrastive divergence from the init distributions"),
    Signature(
        "jem",
        _CHAIN
        + _BUFFER
        + (
            P("alpha", "nonneg_float", 1.0),
            P("label", "variable?", None),
            P("generative", "choice", "marginal", choices=("marginal", "conditional", "both")),
        ),
        "JEM hybrid: alpha * log p(y|x) + log p(x) (y marginalised exactly); "
        "`generative = conditional`: alpha * log p(y|x) + log p(x|y), negatives from chains "
        "that keep their labels; `both`: alpha * log p(y|x) + log p(x) + log p(x|y), both "
        "kinds of chains",
    ),
    Signature(
        "vera",
        (
            P("latent", "posint", 128),
            P("hidden", "posints", (500, 500, 500)),
            P("entropy_weight", "nonneg_float", 1e-4),
            P("generator_lr", "posfloat", 6e-5),
            P("posterior_lr", "posfloat", 3e-5),
            P("importance", "posint", 20),
            P("alpha", "nonneg_float", 0.0),
            P("label", "variable?", None),
        ),
        "VERA (paper 001): negatives from a generator N(g(z), sigma^2 I) (g: an MLP latent -> "
        "hidden -> the real variables) trained to maximise mean F(x_g) + entropy_weight * its "
        "entropy (importance-sampled score estimate); F marginalises the labels; `alpha` adds "
        "alpha * log p(y|x). No MCMC",
    ),
    Signature(
        "ssm",
        (
            P("projections", "posint", 1),
            P("noise", "nonneg_float", 0.1),
            P("alpha", "nonneg_float", 0.0),
            P("label", "variable?", None),
        ),
        "sliced score matching with variance reduction on the real variables (labels held at "
        "the data's: p(x | y)), inputs + N(0, noise^2); `alpha` adds alpha * log p(y|x) (exact "
        "over the labels). No sampling",
    ),
    Signature(
        "nll",
        (),
        "exact maximum likelihood: for a normalised flow energy (`return nice(...)` of the real "
        "variables) or for all-discrete models with at most MAX_ENUMERABLE joint values "
        "(log Z by enumeration). No sampling",
    ),
)
OPTIMIZERS = table(
    Signature(
        "adam",
        (
            P("lr", "posfloat", 1e-4),
            P("warmup", "nonneg_int", 0),
            P("betas", "floats", (0.9, 0.999)),
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
    # Semi-supervised training (jem, vera): the labels of k training examples per class are kept
    # (a seeded choice), the rest are hidden; the cross-entropy runs on a batch of the labelled
    # ones, the generative term on batches of all. `label_entropy`: + beta * mean H(p(y | x)) on
    # the (unlabelled) batch (paper 001's entropy minimisation).
    "labels_per_class": P("labels_per_class", "posint?", None),
    "label_entropy": P("label_entropy", "nonneg_float", 0.0),
}
MAX_ENUMERABLE = 65536
