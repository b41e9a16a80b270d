"""`matmul`: the matrix product of two per-example tensors (a matrix and a vector, two matrices,
or a vector and a matrix), e.g. a declared coupling matrix times the spins: `matmul(J, z)`.

In: the bound arguments of a checked call (the shape rule), [B, ...] tensors (the ops). Out: an
`ir.Op` of shape [n] ([n, k] x [k]), [n, m] ([n, k] x [k, m]) or [m] ([k] x [k, m]).
"""

from __future__ import annotations

import math

from ebmspec import ir
from ebmspec.semantic.registry.signatures import Param as P
from ebmspec.semantic.registry.signatures import Signature, T
from ebmspec.semantic.shapes import fmt_shape

ROWS = (
    Signature(
        "matmul",
        (P("left", T, positional=True), P("right", T, positional=True)),
        "matrix product: [n, k] x [k] -> [n], [n, k] x [k, m] -> [n, m], [k] x [k, m] -> [m]",
    ),
)
PARAMETRIC = ()


def shape(chk, e, name, bound, module):
    left, right = bound["left"], bound["right"]
    a, b = left.shape, right.shape
    ranks_ok = (len(a), len(b)) in ((2, 1), (2, 2), (1, 2))
    if not ranks_ok or a[-1] != b[0]:
        chk.error_shape(
            e.span,
            f"`matmul` cannot multiply {fmt_shape(a)} by {fmt_shape(b)}",
            "the left's last axis must match the right's first: [n, k] x [k], [n, k] x [k, m] "
            "or [k] x [k, m]",
        )
        return None
    out = a[:-1] + b[1:]
    return ir.Op(out, e.span, "matmul", (left, right), (), None)


def macs(node: ir.Op) -> int:
    left, right = node.inputs
    # Plain integers: this also runs under the meta device (`memory.estimate`), where a tensor's
    # `.item()` fails.
    return math.prod(left.shape) * (right.shape[1] if len(right.shape) == 2 else 1)


# --- begin standalone ---


def op_matmul(a, b):
    if b.dim() == 2:  # [B, n, k] x [B, k]
        return (a @ b.unsqueeze(-1)).squeeze(-1)
    if a.dim() == 2:  # [B, k] x [B, k, m]
        return (a.unsqueeze(1) @ b).squeeze(1)
    return a @ b
