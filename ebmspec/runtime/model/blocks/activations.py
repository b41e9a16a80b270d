"""The elementwise activations (`relu(x)`, ... and the `act` of `mlp`, `cnn`, `nice`).

In: the bound arguments of a checked call (the shape rule), a [B, ...] tensor (the ops). Out: an
`ir.Op` of the input's shape; the tensor with the activation applied. The names are
`registry.ACTIVATIONS` (also the values of an `activation` argument); `swish` is `silu`.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from ebmspec import ir
from ebmspec.semantic.registry.signatures import ACTIVATIONS, Signature, T
from ebmspec.semantic.registry.signatures import Param as P

ROWS = tuple(
    Signature(a, (P("input", T, positional=True),), f"elementwise {a}") for a in ACTIVATIONS
)
PARAMETRIC = ()


def shape(chk, e, name, bound, module):
    node = bound["input"]
    op = "silu" if name == "swish" else name
    return ir.Op(node.shape, e.span, op, (node,), (), None)


# --- begin standalone ---


def activation_module(name: str) -> nn.Module:
    if name == "leaky_relu":
        return nn.LeakyReLU(0.2)
    return {
        "identity": nn.Identity,
        "relu": nn.ReLU,
        "elu": nn.ELU,
        "silu": nn.SiLU,
        "swish": nn.SiLU,
        "gelu": nn.GELU,
        "tanh": nn.Tanh,
        "sigmoid": nn.Sigmoid,
        "softplus": nn.Softplus,
    }[name]()


def op_relu(x):
    return F.relu(x)


def op_elu(x):
    return F.elu(x)


def op_silu(x):
    return F.silu(x)


def op_gelu(x):
    return F.gelu(x)


def op_tanh(x):
    return torch.tanh(x)


def op_sigmoid(x):
    return torch.sigmoid(x)


def op_softplus(x):
    return F.softplus(x)


def op_leaky_relu(x):
    return F.leaky_relu(x, 0.2)


def op_identity(x):
    return x
