"""`dot` and `bilinear`: a per-example scalar from two vectors, g(x)^T h(y) or a^T W b.

In: the bound arguments of a checked call (the shape rule), two [B, n] / [B, m] tensors (the op
and the module). Out: an `ir.Op` of shape []; [B].
"""

from __future__ import annotations

import math

import torch
from torch import nn

from ebmspec import ir
from ebmspec.semantic.registry.signatures import Param as P
from ebmspec.semantic.registry.signatures import Signature, T
from ebmspec.semantic.shapes import fmt_shape, vector_input

ROWS = (
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
)
PARAMETRIC = ("bilinear",)  # `dot` owns no parameters
MODULE = ("Bilinear", ("left", "right"))


def shape(chk, e, name, bound, module):
    left, right = bound["left"], bound["right"]
    if not (
        vector_input(chk, name, left, "left input")
        and vector_input(chk, name, right, "right input")
    ):
        return None
    if name == "dot" and left.shape != right.shape:
        chk.error_shape(
            e.span,
            f"`dot` needs vectors of equal length, found {fmt_shape(left.shape)} "
            f"and {fmt_shape(right.shape)}",
            "give both sides the same output size "
            "(`out = ...`), or use `bilinear` for different sizes",
        )
        return None
    attrs = (("left", left.shape[0]), ("right", right.shape[0])) if name == "bilinear" else ()
    return ir.Op((), e.span, name, (left, right), attrs, module)


def macs(node: ir.Op) -> int:
    attrs = dict(node.attrs)
    return attrs["left"] * attrs["right"] if node.op == "bilinear" else 0


# --- begin standalone ---


def op_dot(a, b):
    return (a * b).sum(-1)


class Bilinear(nn.Module):
    """a^T W b for vectors a, b."""

    def __init__(self, left, right):
        super().__init__()
        self.weight = nn.Parameter(torch.randn(left, right) / math.sqrt(left * right))

    def forward(self, a, b):
        return ((a @ self.weight) * b).sum(-1)
