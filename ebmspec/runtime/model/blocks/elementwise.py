"""`exp`, `log`, `abs`, `sqrt`: elementwise functions that are not activations.

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
)
PARAMETRIC = ()


def shape(chk, e, name, bound, module):
    node = bound["input"]
    return ir.Op(node.shape, e.span, name, (node,), (), None)


# --- begin standalone ---


def op_exp(x):
    return torch.exp(x)


def op_log(x):
    return torch.log(x)


def op_abs(x):
    return torch.abs(x)


def op_sqrt(x):
    return torch.sqrt(x)
