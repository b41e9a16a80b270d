"""`conv`: a 2-D convolution of each example's [H, W] tensor with a declared kernel - neighbour
sums on a lattice: `conv(z, kernel = K)` with `params { K = [[0, 1, 0], [1, 0, 1], [0, 1, 0]]
fixed }` is the sum of each site's four neighbours. `periodic = true` wraps around (a torus),
`false` pads with zeros (open boundaries).

In: the bound arguments of a checked call (the shape rule), a [B, H, W] tensor and the kernel
[B, kh, kw] (a parameter, the same for every example; odd sides, centred). Out: an `ir.Op` of
shape [H, W]; out[i, j] = sum_ab K[a, b] x[i + a - kh // 2, j + b - kw // 2] (a correlation, as
torch's `conv2d`).
"""

from __future__ import annotations

import torch.nn.functional as F

from ebmspec import ir
from ebmspec.semantic.registry.signatures import Param as P
from ebmspec.semantic.registry.signatures import Signature, T
from ebmspec.semantic.shapes import fmt_shape

ROWS = (
    Signature(
        "conv",
        (P("input", T, positional=True), P("kernel", T), P("periodic", "bool", True)),
        "2-D convolution with a declared kernel (neighbour sums; `periodic = false`: zero padding)",
    ),
)
PARAMETRIC = ()


def shape(chk, e, name, bound, module):
    node, kernel = bound["input"], bound["kernel"]
    if not isinstance(kernel, ir.Param):
        chk.error_shape(
            kernel.span,
            "the kernel of `conv` must be a declared parameter",
            "declare it: `params { K = [[0, 1, 0], [1, 0, 1], [0, 1, 0]] fixed }`, then "
            "`conv(z, kernel = K)`",
        )
        return None
    if len(node.shape) != 2 or len(kernel.shape) != 2 or not all(k % 2 for k in kernel.shape):
        chk.error_shape(
            e.span,
            f"`conv` takes an [H, W] tensor and a kernel with odd sides, found "
            f"{fmt_shape(node.shape)} and {fmt_shape(kernel.shape)}",
            "reshape the lattice to two axes; a kernel of shape [3, 3] sums nearest neighbours",
        )
        return None
    attrs = (("periodic", bool(bound["periodic"])),)
    return ir.Op(node.shape, e.span, "conv", (node, kernel), attrs, None)


# --- begin standalone ---


def op_conv(x, kernel, periodic=True):
    pad_h, pad_w = kernel.shape[1] // 2, kernel.shape[2] // 2
    image = x.unsqueeze(1)
    if periodic:
        image = F.pad(image, (pad_w, pad_w, pad_h, pad_h), mode="circular")
        padding = 0
    else:
        padding = (pad_h, pad_w)
    weight = kernel[:1].unsqueeze(1).to(x.dtype)  # one kernel for every example
    return F.conv2d(image, weight, padding=padding).squeeze(1)
