"""`quadratic` (alias `ising`): v^T W v + b^T v with W symmetric and zero on the diagonal.

In: the bound arguments of a checked call (the shape rule), a [B, n] tensor (the module). Out: an
`ir.Op` of shape []; [B]. The Ising / Potts couplings of a discrete model.
"""

from __future__ import annotations

import torch
from torch import nn

from ebmspec import ir
from ebmspec.semantic.registry.signatures import Param as P
from ebmspec.semantic.registry.signatures import Signature, T
from ebmspec.semantic.shapes import vector_input

ROWS = (
    Signature(
        "quadratic",
        (P("input", T, positional=True), P("bias", "bool", True)),
        "quadratic/Ising term v^T W v + b^T v, W symmetric with zero diagonal",
    ),
    Signature(
        "ising", (P("input", T, positional=True), P("bias", "bool", True)), "alias of quadratic"
    ),
)
PARAMETRIC = ("quadratic", "ising")
MODULE = ("Quadratic", ("dim", "bias"))


def shape(chk, e, name, bound, module):
    node = bound["input"]
    if not vector_input(chk, name, node):
        return None
    attrs = (("dim", node.shape[0]), ("bias", bound["bias"]))
    return ir.Op((), e.span, "quadratic", (node,), attrs, module)


def macs(node: ir.Op) -> int:
    return dict(node.attrs)["dim"] ** 2


# --- begin standalone ---


class Quadratic(nn.Module):
    """v^T W v + b^T v with W symmetric and zero on the diagonal (Ising / Potts couplings)."""

    def __init__(self, dim, bias=True):
        super().__init__()
        self.weight = nn.Parameter(0.01 * torch.randn(dim, dim))
        self.bias = nn.Parameter(torch.zeros(dim)) if bias else None
        self.register_buffer("mask", 1.0 - torch.eye(dim), persistent=False)

    def coupling(self):
        return 0.5 * (self.weight + self.weight.t()) * self.mask

    def forward(self, v):
        f = ((v @ self.coupling()) * v).sum(-1)
        return f + v @ self.bias if self.bias is not None else f
