"""`exp`, `log`, `abs`, `sqrt`, `clamp`: elementwise functions that are not activations.

In: the bound arguments of a checked call (the shape rule), a [B, ...] tensor (the ops). Out: an
`ir.Op` of the input's shape; the function applied to every element. `log` and `sqrt` of a
non-positive element give -inf / nan as in torch: keep their inputs positive (e.g. `log(1 + exp(z))`
is `softplus(z)`).
"""

from __future__ import annotations

import torch

from ebmspec import ir
from ebmspec.semantic.registry.signatures import Param as P
from ebmspec.semantic.registry.signatures import Signature, T

ROWS = (
    Signature("exp", (P("input", T, positional=True),), "elementwise exponential"),
    Signature("log", (P("input", T, positional=True),), "elementwise natural logarithm"),
    Signature("abs", (P("input", T, positional=True),), "elementwise absolute value"),
    Signature("sqrt", (P("input", T, positional=True),), "elementwise square root"),
    Signature(
        "clamp",
        (P("input", T, positional=True), P("min", "float?", None), P("max", "float?", None)),
        "elementwise clamp into [min, max] (either bound may be left out)",
    ),
)
PARAMETRIC = ()


def shape(chk, e, name, bound, module):
    node = bound["input"]
    if name != "clamp":
        return ir.Op(node.shape, e.span, name, (node,), (), None)
    low, high = bound["min"], bound["max"]
    if low is None and high is None or (low is not None and high is not None and low > high):
        chk.error_shape(
            e.span,
            "`clamp` needs `min`, `max` or both, with min <= max",
            "write e.g. `clamp(x, min = -1, max = 1)`",
        )
        return None
    return ir.Op(node.shape, e.span, "clamp", (node,), (("min", low), ("max", high)), None)


# --- begin standalone ---


def op_exp(x):
    return torch.exp(x)


def op_log(x):
    return torch.log(x)


def op_abs(x):
    return torch.abs(x)


def op_sqrt(x):
    return torch.sqrt(x)


def op_clamp(x, min=None, max=None):
    return torch.clamp(x, min, max)
