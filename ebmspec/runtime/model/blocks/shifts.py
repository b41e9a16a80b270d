"""`roll`: the tensor shifted along one per-example axis, elements leaving one end entering at
the other (periodic boundaries: `sum(z * roll(z, shift = 1, axis = 0))` sums a torus's
vertical neighbour products).

In: the bound arguments of a checked call (the shape rule), a [B, ...] tensor (the op). Out: an
`ir.Op` of the input's shape; the rolled tensor.
"""

from __future__ import annotations

import torch

from ebmspec import ir
from ebmspec.semantic.registry.signatures import Param as P
from ebmspec.semantic.registry.signatures import Signature, T
from ebmspec.semantic.shapes import axis_of

ROWS = (
    Signature(
        "roll",
        (P("input", T, positional=True), P("shift", "int", 1), P("axis", "int", 0)),
        "shift along `axis` by `shift` places, periodically (torus neighbours)",
    ),
)
PARAMETRIC = ()


def shape(chk, e, name, bound, module):
    node, axis = bound["input"], bound["axis"]
    axis = axis_of(chk, e, name, node, axis, "roll")
    if axis is None:
        return None
    attrs = (("shift", bound["shift"]), ("axis", axis))
    return ir.Op(node.shape, e.span, "roll", (node,), attrs, None)


# --- begin standalone ---


def op_roll(x, shift, axis):
    return torch.roll(x, shift, axis + 1)
