"""Helpers of the energy blocks' shape rules (the rules live with each block,
`runtime.model.blocks`).

A rule takes the checker (`EnergyChecker`, as `chk`), the checked call (`ast.Call`), the block's
name, the bound arguments (tensor arguments already `ir.ENode`s) and the parameter-block name the
call owns, and returns the `ir.Op` with its per-example output shape, or None after reporting a
located E3xx diagnostic through `chk`. In: shapes and nodes. Out: text and checks for those rules.
"""

from __future__ import annotations

from ebmspec import ir
from ebmspec.semantic.values import keyword_span


def fmt_shape(shape: tuple[int, ...]) -> str:
    return "[" + ", ".join(map(str, shape)) + "]"


def vector_input(chk, name: str, node: ir.ENode, arg: str = "input") -> bool:
    """True if `node` is a vector; else a located E301 through the checker `chk`."""
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


def image_input(chk, name: str, node: ir.ENode, help: str) -> bool:
    """True if `node` is an image [C, H, W]; else a located E301 through the checker `chk`."""
    if len(node.shape) != 3:
        found = fmt_shape(node.shape)
        chk.error_shape(
            node.span, f"`{name}` needs an image of shape [C, H, W], found {found}", help
        )
        return False
    return True


def axis_of(chk, e, name: str, node: ir.ENode, axis: int, verb: str, also: str = "") -> int | None:
    """`axis` of `node`'s per-example shape counted from 0 (negative from the end), or None
    after a located E301 at the call's `axis` argument when the tensor has no such axis (`verb`
    says what the call does along it, `also` ends the help line)."""
    rank = len(node.shape)
    if -rank <= axis < rank:
        return axis % rank
    chk.error_shape(
        keyword_span(e, "axis"),
        f"`{name}` along axis {axis} of a tensor of shape {fmt_shape(node.shape)}, which has "
        f"{rank} ax{'i' if rank == 1 else 'e'}s",
        f"axes count from 0 to {rank - 1} (or from -1 backwards){also}"
        if rank
        else f"a scalar has no axis to {verb}",
    )
    return None
