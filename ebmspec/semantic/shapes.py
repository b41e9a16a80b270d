"""Shape rules of the energy building blocks, one function per block.

In: the checked call (`ast.Call`), the bound arguments (tensor arguments already `ir.ENode`s) and
the parameter-block name the call owns. Out: the `ir.Op` with its per-example output shape, or None
after reporting a located E3xx diagnostic through the `EnergyChecker` passed as `chk`.
"""

from __future__ import annotations

import math

from ebmspec import ir
from ebmspec.frontend import ast


def fmt_shape(shape: tuple[int, ...]) -> str:
    return "[" + ", ".join(map(str, shape)) + "]"


def _vector(chk, e: ast.Call, name: str, node: ir.ENode, arg: str = "input") -> bool:
    if len(node.shape) != 1:
        chk.error_shape(
            node.span,
            f"`{name}` needs a vector {arg}, found shape {fmt_shape(node.shape)}",
            "flatten it first: `flatten(...)`"
            if len(node.shape) > 1
            else "wrap scalars in a vector with `concat(...)`",
        )
        return False
    return True


def _mlp(chk, e, name, bound, module):
    node = bound["input"]
    if not _vector(chk, e, name, node):
        return None
    hidden = bound.get("hidden", ())
    out = bound["out"]
    attrs = (
        ("in_features", node.shape[0]),
        ("hidden", hidden),
        ("out", out),
        ("act", bound.get("act", "identity")),
        ("bias", bound["bias"]),
    )
    return ir.Op((out,) if out else (), e.span, "mlp", (node,), attrs, module)


def _cnn(chk, e, name, bound, module):
    node = bound["input"]
    if len(node.shape) != 3:
        chk.error_shape(
            node.span,
            f"`cnn` needs an image of shape [C, H, W], found {fmt_shape(node.shape)}",
            "declare images as `real[1, 32, 32]`",
        )
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


def _embedding(chk, e, name, bound, module):
    node = bound["input"]
    variable = chk.scope.variables[node.variable]
    count = math.prod(variable.shape)
    attrs = (("categories", variable.categories), ("dim", bound["dim"]), ("count", count))
    return ir.Op((count * bound["dim"],), e.span, "embedding", (node,), attrs, module)


def _onehot(chk, e, name, bound, module):
    node = bound["input"]
    return ir.Op((math.prod(node.shape),), e.span, "onehot", (node,), (), None)


def _concat(chk, e, name, bound, module):
    parts = bound["*"]
    if not parts:
        chk.sink.error(
            "E105", "`concat` needs at least one input", e.span, "write `concat(a, b, ...)`"
        )
        return None
    if not all(_vector(chk, e, name, p) for p in parts):
        return None
    return ir.Op((sum(p.shape[0] for p in parts),), e.span, "concat", parts, (), None)


def _flatten(chk, e, name, bound, module):
    node = bound["input"]
    return ir.Op((math.prod(node.shape),), e.span, "flatten", (node,), (), None)


def _reshape(chk, e, name, bound, module):
    node, shape = bound["input"], bound["shape"]
    if math.prod(shape) != math.prod(node.shape):
        chk.error_shape(
            e.span,
            f"cannot reshape {fmt_shape(node.shape)} ({math.prod(node.shape)} "
            f"elements) to {fmt_shape(shape)} ({math.prod(shape)} elements)",
            "the element counts must match",
        )
        return None
    return ir.Op(tuple(shape), e.span, "reshape", (node,), (("shape", tuple(shape)),), None)


def _reduce(chk, e, name, bound, module):
    return ir.Op((), e.span, name, (bound["input"],), (), None)


def _pair(chk, e, name, bound, module):
    left, right = bound["left"], bound["right"]
    if not (
        _vector(chk, e, name, left, "left input") and _vector(chk, e, name, right, "right input")
    ):
        return None
    if name == "dot" and left.shape != right.shape:
        chk.error_shape(
            e.span,
            f"`dot` needs vectors of equal length, found {fmt_shape(left.shape)} "
            f"and {fmt_shape(right.shape)}",
            "give both sides the same output size "
            "(`out = ...`), or use `bilinear` for different sizes",
        )
        return None
    attrs = (("left", left.shape[0]), ("right", right.shape[0])) if name == "bilinear" else ()
    return ir.Op((), e.span, name, (left, right), attrs, module)


def _quadratic(chk, e, name, bound, module):
    node = bound["input"]
    if not _vector(chk, e, name, node):
        return None
    attrs = (("dim", node.shape[0]), ("bias", bound["bias"]))
    return ir.Op((), e.span, "quadratic", (node,), attrs, module)


def _nice(chk, e, name, bound, module):
    node = bound["input"]
    if not _vector(chk, e, name, node):
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


def _gaussian(chk, e, name, bound, module):
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


def elementwise(chk, e, name, bound, module):
    node = bound["input"]
    op = "silu" if name == "swish" else name
    return ir.Op(node.shape, e.span, op, (node,), (), None)


SHAPE_RULES = {
    "mlp": _mlp,
    "linear": lambda chk, e, name, bound, module: _mlp(
        chk, e, "linear", {**bound, "hidden": ()}, module
    ),
    "cnn": _cnn,
    "embedding": _embedding,
    "onehot": _onehot,
    "concat": _concat,
    "flatten": _flatten,
    "reshape": _reshape,
    "sum": _reduce,
    "mean": _reduce,
    "logsumexp": _reduce,
    "dot": _pair,
    "bilinear": _pair,
    "quadratic": _quadratic,
    "ising": _quadratic,
    "gaussian": _gaussian,
    "nice": _nice,
}
