"""`onehot`, `concat`, `flatten`, `reshape`: blocks that rearrange elements, with no parameters.

In: the bound arguments of a checked call (the shape rules), batched tensors (the ops). Out: an
`ir.Op` with the rearranged per-example shape; the rearranged [B, ...] tensor.
"""

from __future__ import annotations

import math

import torch

from ebmspec import ir
from ebmspec.runtime.model.ops import as_rows
from ebmspec.semantic.registry.signatures import Param as P
from ebmspec.semantic.registry.signatures import Signature, T
from ebmspec.semantic.shapes import fmt_shape, vector_input

ROWS = (
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
)
PARAMETRIC = ()


def shape(chk, e, name, bound, module):
    if name == "concat":
        parts = bound["*"]
        if not parts:
            chk.sink.error(
                "E105", "`concat` needs at least one input", e.span, "write `concat(a, b, ...)`"
            )
            return None
        if not all(vector_input(chk, name, p) for p in parts):
            return None
        return ir.Op((sum(p.shape[0] for p in parts),), e.span, "concat", parts, (), None)
    node = bound["input"]
    if name == "reshape":
        size = bound["shape"]
        if math.prod(size) != math.prod(node.shape):
            chk.error_shape(
                e.span,
                f"cannot reshape {fmt_shape(node.shape)} ({math.prod(node.shape)} "
                f"elements) to {fmt_shape(size)} ({math.prod(size)} elements)",
                "the element counts must match",
            )
            return None
        return ir.Op(tuple(size), e.span, "reshape", (node,), (("shape", tuple(size)),), None)
    return ir.Op((math.prod(node.shape),), e.span, name, (node,), (), None)  # onehot, flatten


# --- begin standalone ---


def op_onehot(code):
    return as_rows(code)


def op_flatten(x):
    return as_rows(x)


def op_concat(*xs):
    return torch.cat(xs, dim=1)


def op_reshape(x, shape):
    return x.reshape(x.shape[0], *shape)
