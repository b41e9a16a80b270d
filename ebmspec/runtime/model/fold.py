"""Constant folding: a call of a building block on numbers alone (`log(2)`, `max(2, 3)`,
`sqrt(c)` with `c = 2 * 3` a binding) becomes the number it evaluates to.

In: a checked `ir.Program`. Out: the same program with every parameter-free `ir.Op` whose inputs
are all constants (numbers, or `let` bindings that fold to one) replaced by an `ir.Const` of the
same span, evaluated once here, in float64, by the very op function the runtime would call. The
runtime evaluates ops on [B, ...] tensors; a bare number reached them as a Python float, which
arithmetic accepts but `torch.log` and the reductions do not (an internal error at the first
energy evaluation, after `check` had passed). Bindings and calls that read a variable or a
parameter are left alone, so a spec without such constants keeps its IR unchanged.

A pass over the IR that lives in the runtime because it evaluates the runtime's own op functions
(`runtime.model.blocks.OPS`); `ebmspec.api.compile_spec` runs it right after `passes.PIPELINE`.
"""

from __future__ import annotations

import dataclasses

import torch

from ebmspec import ir
from ebmspec.runtime.model.blocks import OPS  # the runtime's own op functions


def fold_constants(program: ir.Program) -> ir.Program:
    folded: dict[str, ir.Const] = {}  # let name -> its value, for lets that fold to a number
    lets = []
    for let in program.energy.lets:
        value = _fold(let.value, folded)
        if isinstance(value, ir.Const):
            folded[let.name] = value
        lets.append(let if value is let.value else dataclasses.replace(let, value=value))
    result = _fold(program.energy.result, folded)
    if result is program.energy.result and all(
        a is b for a, b in zip(lets, program.energy.lets, strict=True)
    ):
        return program
    # A binding every use of which was folded away is read by nothing now: drop it (the
    # checker's rule that every binding is used, which emitted modules are linted by, holds).
    used = _refs(result)
    for let in lets:
        used |= _refs(let.value)
    lets = [let for let in lets if let.name in used or let.name not in folded]
    energy = dataclasses.replace(program.energy, lets=tuple(lets), result=result)
    return dataclasses.replace(program, energy=energy)


def _refs(node: ir.ENode) -> set[str]:
    if isinstance(node, ir.Ref):
        return {node.name}
    return set().union(*(_refs(child) for child in getattr(node, "inputs", ())))


def _constant(node: ir.ENode, folded: dict) -> ir.Const | None:
    if isinstance(node, ir.Const):
        return node
    if isinstance(node, ir.Ref):
        return folded.get(node.name)
    return None


def _fold(node: ir.ENode, folded: dict) -> ir.ENode:
    if not isinstance(node, ir.Op):
        return node
    inputs = tuple(_fold(child, folded) for child in node.inputs)
    changed = any(a is not b for a, b in zip(inputs, node.inputs, strict=True))
    node = dataclasses.replace(node, inputs=inputs) if changed else node
    constants = [_constant(child, folded) for child in inputs]
    if node.module is not None or node.shape != () or not inputs or None in constants:
        return node
    # Only a call that reads nothing but numbers; arithmetic on a bare number already works,
    # and is folded too only so that its result can feed a call (`log(2 * 3)`).
    args = [torch.full((1,), c.value, dtype=torch.float64) for c in constants]
    with torch.no_grad():
        value = OPS[node.op](*args, **dict(node.attrs))
    if not isinstance(value, torch.Tensor) or value.numel() != 1:
        return node
    return ir.Const((), node.span, float(value.reshape(())))
