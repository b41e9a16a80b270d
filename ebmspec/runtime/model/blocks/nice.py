"""`nice`: a NICE normalising flow whose output is the exact log-density of its input.

In: the bound arguments of a checked call (the shape rule), a [B, n] tensor (the module). Out: an
`ir.Op` of shape [] (or [classes]); [B] log p(x) (or [B, K] log p(x | k)). `ir` and the `nll`
objective recognise `return nice(...)` as a tractable energy.
"""

from __future__ import annotations

import math

import torch
from torch import nn

from ebmspec import ir
from ebmspec.runtime.model.blocks.mlp import MLP
from ebmspec.semantic.registry.signatures import Param as P
from ebmspec.semantic.registry.signatures import Signature, T
from ebmspec.semantic.shapes import vector_input

ROWS = (
    Signature(
        "nice",
        (
            P("input", T, positional=True),
            P("layers", "posint", 4),
            P("hidden", "posints", (256, 256)),
            P("act", "activation", "relu"),
            P("classes", "posint?", None),
        ),
        "NICE normalising flow (Dinh et al. 2015): `layers` additive coupling layers (each an MLP "
        "on one half of the vector shifting the other), a diagonal scaling and a standard normal "
        "base; the output is the exact log-density of the input. `return nice(flatten(x))` makes "
        "f a normalised log p(x): exact likelihood (`nll`) and test log-likelihood in `eval`. "
        "`classes = K`: a Gaussian-mixture base N(mu_k, I) with learned means, K log-densities "
        "log p(x | k): `return nice(flatten(x), classes = 10)[y]` is paper 002's generative "
        "classifier (p(y | x) by Bayes' rule)",
    ),
)
PARAMETRIC = ("nice",)
MODULE = ("NICE", ("dim", "layers", "hidden", "act", "classes"))


def shape(chk, e, name, bound, module):
    node = bound["input"]
    if not vector_input(chk, name, node):
        return None
    if node.shape[0] < 2:
        chk.error_shape(
            node.span,
            "`nice` splits its input into two halves, so it needs at least 2 elements",
            "give it the whole vector of the model's real variables",
        )
        return None
    attrs = (
        ("dim", node.shape[0]),
        ("layers", bound["layers"]),
        ("hidden", bound["hidden"]),
        ("act", bound["act"]),
        ("classes", bound["classes"]),
    )
    shape = () if bound["classes"] is None else (bound["classes"],)
    return ir.Op(shape, e.span, "nice", (node,), attrs, module)


def macs(node: ir.Op) -> int:
    """Each coupling: an MLP from one half of the vector to the other."""
    attrs = dict(node.attrs)
    half, rest = (attrs["dim"] + 1) // 2, attrs["dim"] // 2
    total = 0
    for index in range(attrs["layers"]):
        source, target = (half, rest) if index % 2 == 0 else (rest, half)
        widths = [source, *attrs["hidden"], target]
        total += sum(a * b for a, b in zip(widths, widths[1:], strict=False))
    return total


# --- begin standalone ---


class NICE(nn.Module):
    """NICE (Dinh et al. 2015; paper 001's Table 2 model): `layers` additive coupling layers on
    a vector of `dim` elements, split into its even and odd positions; layer i shifts one half by
    an MLP of the other (odd by even for even i), then z = exp(log_scale) * h. Additive couplings
    have Jacobian determinant 1, so with a standard normal base the output is the exact
    log-density log p(x) = sum_i log N(z_i; 0, 1) + sum(log_scale). The couplings' last layers
    start at zero: the flow starts as the identity. `classes = K`: the base is N(mu_k, I) for
    each class k (learned means, drawn N(0, I) at the start), and the output is [B, K] of
    log p(x | k) (paper 002's generative classifier: a flow with a Gaussian-mixture latent)."""

    def __init__(self, dim, layers=4, hidden=(256, 256), act="relu", classes=None):
        super().__init__()
        half, rest = (dim + 1) // 2, dim // 2
        self.couplings = nn.ModuleList()
        for index in range(layers):
            source, target = (half, rest) if index % 2 == 0 else (rest, half)
            coupling = MLP(source, list(hidden), target, act)
            nn.init.zeros_(coupling.net[-1].weight)
            nn.init.zeros_(coupling.net[-1].bias)
            self.couplings.append(coupling)
        self.log_scale = nn.Parameter(torch.zeros(dim))
        self.means = None if classes is None else nn.Parameter(torch.randn(classes, dim))

    def forward(self, x):
        even, odd = x[:, 0::2], x[:, 1::2]
        for index, coupling in enumerate(self.couplings):
            if index % 2 == 0:
                odd = odd + coupling(even)
            else:
                even = even + coupling(odd)
        h = torch.stack([even[:, : odd.shape[1]], odd], 2).reshape(x.shape[0], -1)
        if even.shape[1] > odd.shape[1]:  # an odd length: the last element is even-indexed
            h = torch.cat([h, even[:, -1:]], 1)
        z = h * self.log_scale.exp()
        if self.means is not None:  # [B, 1, dim] - [K, dim]: every class's Gaussian at once
            z = z.unsqueeze(1) - self.means
        log_base = -0.5 * z.pow(2).sum(-1) - 0.5 * x.shape[1] * math.log(2 * math.pi)
        return log_base + self.log_scale.sum()

    def inverse(self, z: torch.Tensor) -> torch.Tensor:
        """x with forward(x)'s latent equal to `z` ([B, dim]; of the unconditional flow): exact
        draws of p(x) from z ~ N(0, I) (the AIS bench's reverse chains start from them)."""
        h = z * (-self.log_scale).exp()
        even, odd = h[:, 0::2], h[:, 1::2]
        for index in reversed(range(len(self.couplings))):
            if index % 2 == 0:
                odd = odd - self.couplings[index](even)
            else:
                even = even - self.couplings[index](odd)
        x = torch.empty_like(h)
        x[:, 0::2], x[:, 1::2] = even, odd
        return x
