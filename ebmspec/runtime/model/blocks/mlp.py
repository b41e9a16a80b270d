"""`mlp` and `linear`: a multilayer perceptron, or an affine map, of a vector.

In: the bound arguments of a checked call (the shape rule), a [B, n] tensor (the module). Out: an
`ir.Op` of shape [] (or [out]); [B] (or [B, out]). `share` / `tail` let a sampler keep the share
of a first layer's inputs that a move leaves alone (`passes.plan_cache`).
"""

from __future__ import annotations

from torch import nn

from ebmspec import ir
from ebmspec.runtime.model.blocks.activations import activation_module
from ebmspec.semantic.registry.signatures import Param as P
from ebmspec.semantic.registry.signatures import Signature, T
from ebmspec.semantic.shapes import vector_input

ROWS = (
    Signature(
        "mlp",
        (
            P("input", T, positional=True),
            P("hidden", "posints", ()),
            P("out", "posint?", None),
            P("act", "activation", "silu"),
            P("bias", "bool", True),
        ),
        "multilayer perceptron on a vector; scalar output unless `out` is given",
    ),
    Signature(
        "linear",
        (P("input", T, positional=True), P("out", "posint?", None), P("bias", "bool", True)),
        "affine map of a vector; scalar output unless `out` is given",
    ),
)
PARAMETRIC = ("mlp", "linear")
MODULE = ("MLP", ("in_features", "hidden", "out", "act", "bias"))


def shape(chk, e, name, bound, module):
    node = bound["input"]
    if not vector_input(chk, name, node):
        return None
    hidden = bound.get("hidden", ())  # `linear` is an MLP without hidden layers
    out = bound["out"]
    attrs = (
        ("in_features", node.shape[0]),
        ("hidden", hidden),
        ("out", out),
        ("act", bound.get("act", "identity")),
        ("bias", bound["bias"]),
    )
    return ir.Op((out,) if out else (), e.span, "mlp", (node,), attrs, module)


def macs(node: ir.Op) -> int:
    attrs = dict(node.attrs)
    widths = [attrs["in_features"], *attrs["hidden"], attrs["out"] or 1]
    return sum(a * b for a, b in zip(widths, widths[1:], strict=False))


# --- begin standalone ---


class MLP(nn.Module):
    """Linear layers with an activation between them; `out=None` gives one squeezed output."""

    def __init__(self, in_features, hidden, out, act, bias=True):
        super().__init__()
        layers: list[nn.Module] = []
        width = in_features
        for size in hidden:
            layers += [nn.Linear(width, size, bias=bias), activation_module(act)]
            width = size
        layers.append(nn.Linear(width, out or 1, bias=bias))
        self.net = nn.Sequential(*layers)
        self.squeeze = out is None

    def forward(self, x):
        return self.tail(self.net[0](x))

    def share(self, x, columns, bias=True):
        """The first layer applied to the input columns `columns` only (increasing ints): with
        the shares of all columns summed (one with the bias), `tail` gives `forward`'s output.
        Lets a sampler keep the share of inputs that a move leaves alone (passes/plan_cache)."""
        first = self.net[0]
        start, stop = columns[0], columns[-1] + 1
        if stop - start == len(columns):  # a contiguous range: a view of the weight
            weight = first.weight[:, start:stop]
        else:
            weight = first.weight[:, list(columns)]
        out = x @ weight.t()
        return out + first.bias if bias and first.bias is not None else out

    def tail(self, pre):
        """Everything after the first linear layer, from its output `pre`."""
        y = self.net[1:](pre)
        return y.squeeze(-1) if self.squeeze else y
