"""`avgpool`: average pooling of an image over non-overlapping `size` x `size` windows.

In: the bound arguments of a checked call (the shape rule), a [B, C, H, W] tensor (the op). Out:
an `ir.Op` of shape [C, H // size, W // size]; the pooled [B, C, H', W'] tensor (rows and columns
past the last whole window are dropped, as torch's `avg_pool2d` does). A cheap, parameter-free
downsampling before a CNN or an MLP on images.
"""

from __future__ import annotations

import torch.nn.functional as F

from ebmspec import ir
from ebmspec.semantic.registry.signatures import Param as P
from ebmspec.semantic.registry.signatures import Signature, T
from ebmspec.semantic.shapes import image_input

ROWS = (
    Signature(
        "avgpool",
        (P("input", T, positional=True), P("size", "posint", 2)),
        "average over non-overlapping size x size windows of a [C, H, W] image",
    ),
)
PARAMETRIC = ()


def shape(chk, e, name, bound, module):
    node, size = bound["input"], bound["size"]
    help = "pool images, e.g. `avgpool(x, size = 2)` with `x : real[1, 28, 28]`"
    if not image_input(chk, name, node, help):
        return None
    channels, height, width = node.shape
    if size > min(height, width):
        chk.error_shape(
            e.span,
            f"`avgpool` windows of {size}x{size} do not fit the {height}x{width} image",
            f"use `size` <= {min(height, width)}",
        )
        return None
    out = (channels, height // size, width // size)
    return ir.Op(out, e.span, "avgpool", (node,), (("size", size),), None)


# --- begin standalone ---


def op_avgpool(x, size):
    return F.avg_pool2d(x, size)
