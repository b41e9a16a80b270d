"""`diag_gaussian`: log N(input; mu, diag(sigma^2)) with mu and sigma learned per element.

In: the bound arguments of a checked call (the shape rule), a [B, ...] tensor (the module). Out:
an `ir.Op` of shape []; [B]. The visible term of a Gaussian-Bernoulli RBM with a learned variance
per pixel: `diag_gaussian(x) + bilinear(flatten(x), h) + linear(h)`. sigma = exp(log_sigma),
log_sigma starting at 0 (sigma = 1), mu at 0: standardize the data first.
"""

from __future__ import annotations

import math

import torch
from torch import nn

from ebmspec import ir
from ebmspec.semantic.registry.signatures import Param as P
from ebmspec.semantic.registry.signatures import Signature, T

ROWS = (
    Signature(
        "diag_gaussian",
        (P("input", T, positional=True),),
        "log N(input; mu, diag(sigma^2)) summed over elements, mu and sigma learned per element",
    ),
)
PARAMETRIC = ("diag_gaussian",)
MODULE = ("DiagGaussian", ("size",))


def shape(chk, e, name, bound, module):
    node = bound["input"]
    attrs = (("size", math.prod(node.shape)),)
    return ir.Op((), e.span, "diag_gaussian", (node,), attrs, module)


def macs(node: ir.Op) -> int:
    return 3 * dict(node.attrs)["size"]


# --- begin standalone ---


class DiagGaussian(nn.Module):
    """log N(x; mu, diag(exp(log_sigma)^2)) per example, over all elements of x."""

    def __init__(self, size):
        super().__init__()
        self.mean = nn.Parameter(torch.zeros(size))
        self.log_sigma = nn.Parameter(torch.zeros(size))

    def forward(self, x):
        z = (x.reshape(x.shape[0], -1) - self.mean) * torch.exp(-self.log_sigma)
        constant = 0.5 * math.log(2 * math.pi) * z.shape[1]
        return -0.5 * z.pow(2).sum(1) - self.log_sigma.sum() - constant
