"""`gaussian`: log N(input; mean, std^2 I), summed over the elements.

In: the bound arguments of a checked call (the shape rule), a [B, ...] tensor, its mean and std
(a number, an attribute; or a scalar expression - a learned std - as a third input). Out: an
`ir.Op` of shape []; [B].
"""

from __future__ import annotations

import math

import torch

from ebmspec import ir
from ebmspec.runtime.model.ops import as_rows, op_div, op_sub
from ebmspec.semantic.registry.signatures import Param as P
from ebmspec.semantic.registry.signatures import Signature, T
from ebmspec.semantic.shapes import fmt_shape
from ebmspec.semantic.values import keyword_span

ROWS = (
    Signature(
        "gaussian",
        (
            P("input", T, positional=True),
            P("mean", "number_or_tensor", 0.0),
            P("std", "number_or_tensor", 1.0),
        ),
        "log N(input; mean, std^2 I), summed over elements; `std` a number > 0 or a scalar "
        "expression (a learned one: `params { log_s = 0.0 }`, `std = exp(log_s)`)",
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
    std = bound["std"]
    if isinstance(std, ir.Const):
        std = std.value
    if isinstance(std, ir.ENode):  # a scalar expression: a third input
        if std.shape != ():
            chk.error_shape(
                std.span,
                f"the std of `gaussian` must be a scalar, found shape {fmt_shape(std.shape)}",
                "use one std for every element (`std = exp(log_s)` with `params { log_s = 0.0 "
                "}`), or `diag_gaussian` for one per element",
            )
            return None
        return ir.Op((), e.span, "gaussian", (node, mean, std), (), None)
    if std <= 0:
        chk.error_shape(
            keyword_span(e, "std"),
            f"the std of `gaussian` must be > 0, found {std:g}",
            "write a positive number, or learn it: `std = exp(log_s)`",
        )
        return None
    return ir.Op((), e.span, "gaussian", (node, mean), (("std", float(std)),), None)


# --- begin standalone ---


def op_gaussian(x, m, std):
    if isinstance(std, torch.Tensor):  # a learned scalar, [B]
        z = op_div(op_sub(x, m), std)
        count = z[0].numel()
        log_norm = torch.log(std).reshape(-1) + 0.5 * math.log(2 * math.pi)
        return -0.5 * as_rows(z.pow(2)).sum(1) - count * log_norm
    z = op_sub(x, m) / std
    count = z[0].numel()
    return -0.5 * as_rows(z.pow(2)).sum(1) - count * (math.log(std) + 0.5 * math.log(2 * math.pi))
