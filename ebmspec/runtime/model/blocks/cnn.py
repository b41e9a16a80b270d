"""`cnn`: 2-D convolutions on an image, with an optional 1x1 head.

In: the bound arguments of a checked call (the shape rule), a [B, C, H, W] tensor (the module).
Out: an `ir.Op` of shape [C', H', W']; [B, C', H', W'].
"""

from __future__ import annotations

from torch import nn

from ebmspec import ir
from ebmspec.frontend import ast
from ebmspec.runtime.model.blocks.activations import activation_module
from ebmspec.semantic.registry.signatures import Param as P
from ebmspec.semantic.registry.signatures import Signature, T
from ebmspec.semantic.shapes import image_input

ROWS = (
    Signature(
        "cnn",
        (
            P("input", T, positional=True),
            P("channels", "posints"),
            P("kernels", "posints"),
            P("strides", "posints?", None),
            P("paddings", "nonneg_ints?", None),
            P("head", "posint?", None),
            P("act", "activation", "silu"),
        ),
        "2-D convolutions on [C, H, W] (padding (k-1)//2 by default), optional 1x1 head",
    ),
)
PARAMETRIC = ("cnn",)
MODULE = ("CNN", ("in_channels", "channels", "kernels", "strides", "paddings", "head", "act"))


def shape(chk, e, name, bound, module):
    node = bound["input"]
    if not image_input(chk, name, node, "declare images as `real[1, 32, 32]`"):
        return None
    channels, kernels = bound["channels"], bound["kernels"]
    strides = bound["strides"] or (1,) * len(channels)
    paddings = bound["paddings"] or tuple((k - 1) // 2 for k in kernels)
    for key, values in (("kernels", kernels), ("strides", strides), ("paddings", paddings)):
        if len(values) != len(channels):
            given = [
                a for a in e.args.items if isinstance(a, ast.KeywordArg) and a.name.text == key
            ]
            chk.sink.error(
                "E202",
                f"`cnn` has {len(channels)} channels but {len(values)} {key}",
                given[0].value.span if given else e.span,
                f"give one entry of `{key}` per entry of `channels`",
            )
            return None
    c, h, w = node.shape
    for k, s, p in zip(kernels, strides, paddings, strict=True):
        h, w = (h + 2 * p - k) // s + 1, (w + 2 * p - k) // s + 1
        if h < 1 or w < 1:
            chk.error_shape(
                e.span,
                f"`cnn` shrinks the {node.shape[1]}x{node.shape[2]} image to nothing",
                "use fewer stride-2 layers or smaller kernels",
            )
            return None
    out_channels = bound["head"] or channels[-1]
    attrs = (
        ("in_channels", c),
        ("channels", channels),
        ("kernels", kernels),
        ("strides", strides),
        ("paddings", paddings),
        ("head", bound["head"]),
        ("act", bound["act"]),
    )
    return ir.Op((out_channels, h, w), e.span, "cnn", (node,), attrs, module)


def macs(node: ir.Op) -> int:
    attrs = dict(node.attrs)
    channels, height, width = node.inputs[0].shape
    total = 0
    for size, k, s, p in zip(
        attrs["channels"], attrs["kernels"], attrs["strides"], attrs["paddings"], strict=True
    ):
        height, width = (height + 2 * p - k) // s + 1, (width + 2 * p - k) // s + 1
        total += size * channels * k * k * height * width
        channels = size
    if attrs["head"]:
        total += attrs["head"] * channels * height * width
    return total


# --- begin standalone ---


class CNN(nn.Module):
    """Conv2d + activation per entry of `channels`, then an optional 1x1 `head` conv."""

    def __init__(self, in_channels, channels, kernels, strides, paddings, head, act):
        super().__init__()
        layers: list[nn.Module] = []
        width = in_channels
        for size, kernel, stride, padding in zip(channels, kernels, strides, paddings, strict=True):
            layers += [nn.Conv2d(width, size, kernel, stride, padding), activation_module(act)]
            width = size
        if head:
            layers.append(nn.Conv2d(width, head, 1))
        self.net = nn.Sequential(*layers)

    def forward(self, x):
        return self.net(x)
