"""`sum`, `mean`, `logsumexp`: a per-example scalar from all elements of a tensor, or a
reduction along one axis (`axis = i`, counted in the per-example shape; negative from the end).

In: the bound arguments of a checked call (the shape rule), a [B, ...] tensor (the ops). Out: an
`ir.Op` of shape [] (or the shape without that axis); [B] (or [B, ...]).
"""

from __future__ import annotations

import torch

from ebmspec import ir
from ebmspec.runtime.model.ops import as_rows
from ebmspec.semantic.registry.signatures import Param as P
from ebmspec.semantic.registry.signatures import Signature, T
from ebmspec.semantic.shapes import axis_of

_ARGS = (P("input", T, positional=True), P("axis", "int?", None))
ROWS = (
    Signature("sum", _ARGS, "sum of all elements, or along `axis`"),
    Signature("mean", _ARGS, "mean of all elements, or along `axis`"),
    Signature("logsumexp", _ARGS, "log-sum-exp of all elements, or along `axis`"),
)
PARAMETRIC = ()


def shape(chk, e, name, bound, module):
    node, axis = bound["input"], bound["axis"]
    if axis is None:
        return ir.Op((), e.span, name, (node,), (), None)
    axis = axis_of(chk, e, name, node, axis, "reduce; drop the call",
                   "; leave `axis` out to reduce every element")  # fmt: skip
    if axis is None:
        return None
    shape = node.shape[:axis] + node.shape[axis + 1 :]
    return ir.Op(shape, e.span, name, (node,), (("axis", axis),), None)


# --- begin standalone ---


def op_sum(x, axis=None):
    return as_rows(x).sum(1) if axis is None else x.sum(axis + 1)


def op_mean(x, axis=None):
    return as_rows(x).mean(1) if axis is None else x.mean(axis + 1)


def op_logsumexp(x, axis=None):
    return torch.logsumexp(as_rows(x), dim=1) if axis is None else torch.logsumexp(x, axis + 1)
