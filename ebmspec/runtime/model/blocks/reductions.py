"""`sum`, `mean`, `logsumexp`: a per-example scalar from all elements of a tensor.

In: the bound arguments of a checked call (the shape rule), a [B, ...] tensor (the ops). Out: an
`ir.Op` of shape []; [B].
"""

from __future__ import annotations

import torch

from ebmspec import ir
from ebmspec.runtime.model.ops import as_rows
from ebmspec.semantic.registry.signatures import Param as P
from ebmspec.semantic.registry.signatures import Signature, T

ROWS = (
    Signature("sum", (P("input", T, positional=True),), "sum of all elements"),
    Signature("mean", (P("input", T, positional=True),), "mean of all elements"),
    Signature("logsumexp", (P("input", T, positional=True),), "log-sum-exp of all elements"),
)
PARAMETRIC = ()


def shape(chk, e, name, bound, module):
    return ir.Op((), e.span, name, (bound["input"],), (), None)


# --- begin standalone ---


def op_sum(x):
    return as_rows(x).sum(1)


def op_mean(x):
    return as_rows(x).mean(1)


def op_logsumexp(x):
    return torch.logsumexp(as_rows(x), dim=1)
