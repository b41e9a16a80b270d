"""Check `--condition name=value` arguments against a program's variables.

In: a checked `ir.Program` and the text of each `--condition`, parsed as `Source("--condition",
text)` with the spec grammar's `assignment` rule (the machinery of `--set`). Out: one `Condition`
per clamped variable, holding the value as the tensor the sampler expects (categoricals one-hot
[*shape, K], binaries 0/1, reals [*shape]; a single number broadcasts over a real variable), or a
`UserError` with a caret at the offending character:

    E901 malformed condition (no `=`)     E904 wrong type of value (not an integer, not a number)
    E902 unknown variable                 E905 value out of range (category, 0/1, bounds, finite)
    E903 the same variable given twice    E906 wrong shape (ragged list, or not the variable's)
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass

import torch

from ebmspec import ir
from ebmspec.diagnostics import Diagnostic, DiagnosticSink, UserError
from ebmspec.frontend import ast, parse_assignment
from ebmspec.runtime.model.ops import Var
from ebmspec.runtime.sampling.clamping import (
    ConditionError,
    check_number,
    check_shape,
    encode_value,
)
from ebmspec.semantic.values import describe_found, fold_number, suggest
from ebmspec.source import Source, Span

HOW = "write `--condition NAME=VALUE`, e.g. `--condition x_pos=3`"


@dataclass(frozen=True)
class Condition:
    """One clamped variable: its declaration, the value tensor and where it was written."""

    variable: ir.Variable
    value: torch.Tensor
    text: str
    span: Span


def check_conditions(program: ir.Program, texts: Iterable[str]) -> dict[str, Condition]:
    """Every `--condition` in order; the first mistake raises its located `UserError`."""
    conditions: dict[str, Condition] = {}
    for text in texts:
        source = Source("--condition", text)
        condition = check_condition(program, source)
        name = condition.variable.name
        if name in conditions:
            raise UserError(
                source,
                [
                    Diagnostic(
                        "E903",
                        f"`{name}` is conditioned twice: already by "
                        f"`--condition {conditions[name].text}`",
                        condition.span,
                        "give each variable one --condition",
                    )
                ],
            )
        conditions[name] = condition
    return conditions


def check_condition(program: ir.Program, source: Source) -> Condition:
    """One `name=value`: a known variable and a value of its domain and shape."""
    assignment = _parse(source)
    sink = DiagnosticSink(source)
    variables = {v.name: v for v in program.variables}
    key = assignment.key
    variable = variables.get(key.text)
    if variable is None:
        sink.error(
            "E902",
            f"unknown variable `{key.text}`{suggest(key.text, variables)}",
            key.span,
            f"the variables of `{program.name}` are: " + ", ".join(variables),
        )
        sink.raise_if_any()
    value = _check_value(variable, assignment.value, sink)
    sink.raise_if_any()
    return Condition(variable, value, source.text.strip(), key.span)


def _parse(source: Source) -> ast.Assignment:
    text = source.text
    if "=" not in text:
        end = len(text.rstrip())
        raise UserError(
            source,
            [
                Diagnostic(
                    "E901",
                    f"malformed condition `{text.strip()}`: expected `=` and a value after the "
                    "variable name",
                    source.span(end, end),
                    HOW,
                )
            ],
        )
    try:
        return parse_assignment(source)
    except UserError as error:
        # The grammar speaks of files; a condition is one short argument.
        diagnostics = [
            Diagnostic(
                d.code,
                d.message.replace("the end of the file", "the end of the condition"),
                d.span,
                d.help,
            )
            for d in error.diagnostics
        ]
        raise UserError(source, diagnostics) from None


def _shape_text(shape: tuple[int, ...]) -> str:
    return "[" + ", ".join(map(str, shape)) + "]"


def _shape_of(expr: ast.Expr, sink: DiagnosticSink) -> tuple[int, ...] | None:
    """Shape of a (nested) list literal, () for anything else; None after reporting it ragged."""
    if not isinstance(expr, ast.List):
        return ()
    shapes = [_shape_of(item, sink) for item in expr.items]
    if any(shape is None for shape in shapes):
        return None
    for item, shape in zip(expr.items[1:], shapes[1:], strict=True):
        if shape != shapes[0]:
            sink.error(
                "E906",
                f"ragged list: this item has shape {_shape_text(shape)}, the first "
                f"{_shape_text(shapes[0])}",
                item.span,
                "every item of a list must have the same shape",
            )
            return None
    return (len(expr.items), *(shapes[0] if shapes else ()))


def _leaves(expr: ast.Expr) -> list[ast.Expr]:
    if isinstance(expr, ast.List):
        return [leaf for item in expr.items for leaf in _leaves(item)]
    return [expr]


def _check_value(variable: ir.Variable, expr: ast.Expr, sink: DiagnosticSink) -> torch.Tensor:
    """The value's shape, then every number of it (each wrong one reported at its own span)."""
    shape = _shape_of(expr, sink)
    if shape is None:
        return torch.empty(0)
    var = Var(variable.kind, variable.shape, variable.categories, variable.low, variable.high)
    try:
        check_shape(variable.name, var, shape)
    except ConditionError as error:
        sink.error(error.code, error.message, expr.span, error.help)
        return torch.empty(0)
    numbers = []
    for leaf in _leaves(expr):
        try:
            numbers.append(_check_leaf(variable.name, var, leaf))
        except ConditionError as error:
            help = error.help
            if isinstance(leaf, ast.String) and _NUMBER.fullmatch(leaf.value.strip()):
                help = f"drop the quotes: `{leaf.value.strip()}`"
            sink.error(error.code, error.message, leaf.span, help)
    return torch.empty(0) if sink.diagnostics else encode_value(var, numbers, shape)


_NUMBER = re.compile(r"-?(\d+\.?\d*|\.\d+)([eE][+-]?\d+)?")


def _check_leaf(name: str, var: Var, leaf: ast.Expr) -> float | int:
    """One number of a condition's value: its type, then its range (`ConditionError`)."""
    if var.kind == "binary" and isinstance(leaf, ast.Name) and leaf.ident.text in ("true", "false"):
        return int(leaf.ident.text == "true")
    return check_number(name, var, fold_number(leaf), describe_found(leaf))
