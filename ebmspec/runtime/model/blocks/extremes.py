"""`min`, `max`: the elementwise minimum / maximum of two tensors, or the smallest / largest
element of one (all of them, or along `axis`).

In: the bound arguments of a checked call (the shape rule), [B, ...] tensors (the ops). Out:
`min(a, b)` an `ir.Op` of the common shape (a scalar broadcasts, as in `+`); `min(x)` of shape
[], `min(x, axis = i)` the shape without axis i. Differentiable almost everywhere (the gradient
goes to the chosen element).
"""

from __future__ import annotations

import torch

from ebmspec import ir
from ebmspec.runtime.model.blocks import reductions
from ebmspec.runtime.model.ops import _align, as_rows
from ebmspec.semantic.registry.signatures import Param as P
from ebmspec.semantic.registry.signatures import Signature, T
from ebmspec.semantic.shapes import fmt_shape

_ARGS = (P("input", T, positional=True), P("other", "tensor?", None, positional=True),
         P("axis", "int?", None))  # fmt: skip
ROWS = (
    Signature(
        "min",
        _ARGS,
        "elementwise minimum of two tensors, or the smallest element (of all, or along `axis`)",
    ),  # fmt: skip
    Signature(
        "max",
        _ARGS,
        "elementwise maximum of two tensors, or the largest element (of all, or along `axis`)",
    ),  # fmt: skip
)
PARAMETRIC = ()


def shape(chk, e, name, bound, module):
    node, other, axis = bound["input"], bound["other"], bound["axis"]
    if other is not None:
        if axis is not None:
            chk.error_shape(
                e.span,
                f"`{name}` of two tensors is elementwise and takes no `axis`",
                f"write `{name}(a, b)`, or `{name}(a, axis = {axis})` for one tensor",
            )
            return None
        if node.shape != other.shape and () not in (node.shape, other.shape):
            chk.error_shape(
                e.span,
                f"`{name}` needs equal shapes, found {fmt_shape(node.shape)} and "
                f"{fmt_shape(other.shape)}",
                "make the shapes match, or compare with a scalar",
            )
            return None
        shape = node.shape if node.shape != () else other.shape
        return ir.Op(shape, e.span, name, (node, other), (), None)
    return reductions.shape(chk, e, name, bound, module)  # one tensor: a reduction


# --- begin standalone ---


def _pairwise(x, other, function):
    """`function` (torch.minimum / maximum) of two operands, either of them a number."""
    if not isinstance(x, torch.Tensor):
        x, other = other, x
    if not isinstance(other, torch.Tensor):
        other = torch.as_tensor(other, dtype=x.dtype, device=x.device)
    return function(*_align(x, other))


def op_min(x, other=None, axis=None):
    if other is not None:
        return _pairwise(x, other, torch.minimum)
    return as_rows(x).amin(1) if axis is None else x.amin(axis + 1)


def op_max(x, other=None, axis=None):
    if other is not None:
        return _pairwise(x, other, torch.maximum)
    return as_rows(x).amax(1) if axis is None else x.amax(axis + 1)
