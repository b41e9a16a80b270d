"""Energy building blocks (`return ...` in `energy { }`).

In: nothing (static tables). Out: the rows the checker looks names up in.
"""

from __future__ import annotations

from ebmspec.semantic.registry.signatures import ACTIVATIONS, Signature, T, table
from ebmspec.semantic.registry.signatures import Param as P

ENERGY_BLOCKS = table(
    Signature(
        "mlp",
        (
            P("input", T, positional=True),
            P("hidden", "posints", ()),
            P("out", "posint?", None),
            P("act", "activation", "silu"),
            P("bias", "bool", True),
        ),
        "multilayer perceptron on a vector; scalar output unless `out` is given",
    ),
    Signature(
        "linear",
        (P("input", T, positional=True), P("out", "posint?", None), P("bias", "bool", True)),
        "affine map of a vector; scalar output unless `out` is given",
    ),
    Signature(
        "cnn",
        (
            P("input", T, positional=True),
            P("channels", "posints"),
            P("kernels", "posints"),
            P("strides", "posints?", None),
            P("paddings", "nonneg_ints?", None),
            P("head", "posint?", None),
            P("act", "activation", "silu"),
        ),
        "2-D convolutions on [C, H, W] (padding (k-1)//2 by default), optional 1x1 head",
    ),
    Signature(
        "embedding",
        (P("input", "discrete", positional=True), P("dim", "posint")),
        "learned vector per category (arrays: concatenated per element)",
    ),
    Signature(
        "onehot",
        (P("input", "discrete", positional=True),),
        "one-hot code of a categorical (arrays: concatenated per element)",
    ),
    Signature("concat", (), "concatenate vectors", variadic=T),
    Signature("flatten", (P("input", T, positional=True),), "flatten to a vector"),
    Signature(
        "reshape",
        (P("input", T, positional=True), P("shape", "posints")),
        "reshape to `shape` (same number of elements)",
    ),
    Signature("sum", (P("input", T, positional=True),), "sum of all elements"),
    Signature("mean", (P("input", T, positional=True),), "mean of all elements"),
    Signature("logsumexp", (P("input", T, positional=True),), "log-sum-exp of all elements"),
    Signature(
        "dot",
        (P("left", T, positional=True), P("right", T, positional=True)),
        "inner product g(x)^T h(y) of two vectors of equal length",
    ),
    Signature(
        "bilinear",
        (P("left", T, positional=True), P("right", T, positional=True)),
        "learned bilinear form a^T W b",
    ),
    Signature(
        "quadratic",
        (P("input", T, positional=True), P("bias", "bool", True)),
        "quadratic/Ising term v^T W v + b^T v, W symmetric with zero diagonal",
    ),
    Signature(
        "ising", (P("input", T, positional=True), P("bias", "bool", True)), "alias of quadratic"
    ),
    Signature(
        "nice",
        (
            P("input", T, positional=True),
            P("layers", "posint", 4),
            P("hidden", "posints", (256, 256)),
            P("act", "activation", "relu"),
            P("classes", "posint?", None),
        ),
        "NICE normalising flow (Dinh et al. 2015): `layers` additive coupling layers (each an MLP "
        "on one half of the vector shifting the other), a diagonal scaling and a standard normal "
        "base; the output is the exact log-density of the input. `return nice(flatten(x))` makes "
        "f a normalised log p(x): exact likelihood (`nll`) and test log-likelihood in `eval`. "
        "`classes = K`: a Gaussian-mixture base N(mu_k, I) with learned means, K log-densities "
        "log p(x | k): `return nice(flatten(x), classes = 10)[y]` is paper 002's generative "
        "classifier (p(y | x) by Bayes' rule)",
    ),
    Signature(
        "gaussian",
        (
            P("input", T, positional=True),
            P("mean", "number_or_tensor", 0.0),
            P("std", "posfloat", 1.0),
        ),
        "log N(input; mean, std^2 I), summed over elements",
    ),
    *(Signature(a, (P("input", T, positional=True),), f"elementwise {a}") for a in ACTIVATIONS),
)
PARAMETRIC_BLOCKS = (
    "mlp",
    "linear",
    "cnn",
    "embedding",
    "bilinear",
    "quadratic",
    "ising",
    "nice",
)
