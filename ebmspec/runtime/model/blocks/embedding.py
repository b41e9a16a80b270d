"""`embedding`: a learned vector per category of a categorical variable.

In: the bound arguments of a checked call (the shape rule), a one-hot [B, ..., K] tensor (the
module; one-hot so that gradients reach the code). Out: an `ir.Op` of shape [count * dim];
[B, count * dim] (arrays: the vectors of their elements concatenated).
"""

from __future__ import annotations

import math

import torch
from torch import nn

from ebmspec import ir
from ebmspec.semantic.registry.signatures import Param as P
from ebmspec.semantic.registry.signatures import Signature

ROWS = (
    Signature(
        "embedding",
        (P("input", "discrete", positional=True), P("dim", "posint")),
        "learned vector per category (arrays: concatenated per element)",
    ),
)
PARAMETRIC = ("embedding",)
MODULE = ("Embedding", ("categories", "dim"))


def shape(chk, e, name, bound, module):
    node = bound["input"]
    variable = chk.scope.variables[node.variable]
    count = math.prod(variable.shape)
    attrs = (("categories", variable.categories), ("dim", bound["dim"]), ("count", count))
    return ir.Op((count * bound["dim"],), e.span, "embedding", (node,), attrs, module)


def macs(node: ir.Op) -> int:
    attrs = dict(node.attrs)
    return attrs["count"] * attrs["categories"] * attrs["dim"]


# --- begin standalone ---


class Embedding(nn.Module):
    """A learned vector per category, applied to one-hot codes (so gradients reach the code)."""

    def __init__(self, categories, dim):
        super().__init__()
        self.weight = nn.Parameter(torch.randn(categories, dim))

    def forward(self, onehot):
        return (onehot @ self.weight).flatten(1)
