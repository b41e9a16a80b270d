"""`gaussian`: log N(input; mean, std^2 I), summed over the elements.

In: the bound arguments of a checked call (the shape rule), a [B, ...] tensor and its mean (the
op). Out: an `ir.Op` of shape []; [B].
"""

from __future__ import annotations

import math

from ebmspec import ir
from ebmspec.runtime.model.ops import as_rows, op_sub
from ebmspec.semantic.registry.signatures import Param as P
from ebmspec.semantic.registry.signatures import Signature, T
from ebmspec.semantic.shapes import fmt_shape

ROWS = (
    Signature(
        "gaussian",
        (
            P("input", T, positional=True),
            P("mean", "number_or_tensor", 0.0),
            P("std", "posfloat", 1.0),
        ),
        "log N(input; mean, std^2 I), summed over elements",
    ),
)
PARAMETRIC = ()


def shape(chk, e, name, bound, module):
    node, mean = bound["input"], bound["mean"]
    if not isinstance(mean, ir.ENode):  # the default `mean = 0`, a plain number
        mean = ir.Const((), e.span, float(mean))
    if mean.shape not in ((), node.shape):
        chk.error_shape(
            mean.span,
            f"the mean of `gaussian` must have the input's shape "
            f"{fmt_shape(node.shape)}, found {fmt_shape(mean.shape)}",
            "predict it with a matching output size, e.g. `linear(..., out = 2)`",
        )
        return None
    return ir.Op((), e.span, "gaussian", (node, mean), (("std", bound["std"]),), None)


# --- begin standalone ---


def op_gaussian(x, m, std):
    z = op_sub(x, m) / std
    count = z[0].numel()
    return -0.5 * as_rows(z.pow(2)).sum(1) - count * (math.log(std) + 0.5 * math.log(2 * math.pi))
