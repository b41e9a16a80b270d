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

import math
import re
from collections.abc import Iterable
from dataclasses import dataclass

import torch
import torch.nn.functional as F

from ebmspec import ir
from ebmspec.diagnostics import Diagnostic, DiagnosticSink, UserError
from ebmspec.frontend import ast, parse_assignment
from ebmspec.semantic.values import fold_number, suggest
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


def _expected(variable: ir.Variable) -> str:
    dims = _shape_text(variable.shape)
    if variable.kind == "real":
        return f"a number or a list of shape {dims}"
    one, many = ("category", "categories") if variable.kind == "categorical" else ("0/1", "0/1s")
    if not variable.shape:
        return f"a single {one}"
    if len(variable.shape) == 1:
        return f"a list of {variable.shape[0]} {many}"
    return f"a list of shape {dims} of {many}"


def _check_value(variable: ir.Variable, expr: ast.Expr, sink: DiagnosticSink) -> torch.Tensor:
    shape = _shape_of(expr, sink)
    if shape is None:
        return torch.empty(0)
    broadcast = variable.kind == "real" and shape == ()
    if shape != variable.shape and not broadcast:
        found = "a single value" if shape == () else f"a list of shape {_shape_text(shape)}"
        sink.error(
            "E906",
            f"wrong shape for `{variable.name}` ({variable.describe()}): expected "
            f"{_expected(variable)}, found {found}",
            expr.span,
            _shape_help(variable),
        )
        return torch.empty(0)
    numbers = [_check_leaf(variable, leaf, sink) for leaf in _leaves(expr)]
    if sink.diagnostics:
        return torch.empty(0)
    if variable.kind == "categorical":
        codes = torch.tensor(numbers, dtype=torch.long).reshape(variable.shape)
        return F.one_hot(codes, variable.categories).float()
    value = torch.tensor(numbers, dtype=torch.float32).reshape(shape)
    return value.expand(variable.shape).clone() if broadcast else value


def _shape_help(variable: ir.Variable) -> str:
    if variable.kind == "real":
        dims = _shape_text(variable.shape)
        return f"give one number (used for every element) or a nested list of shape {dims}"
    if not variable.shape:
        return f"e.g. `--condition {variable.name}={1 if variable.kind == 'binary' else 3}`"
    example = ", ".join(["0", "1", "0", "1"][i % 4] for i in range(min(variable.shape[0], 4)))
    more = ", ..." if variable.shape[0] > 4 else ""
    return f"e.g. `--condition {variable.name}=[{example}{more}]`"


def _describe(expr: ast.Expr) -> str:
    if isinstance(expr, ast.Name):
        return f"`{expr.ident.text}`"
    if isinstance(expr, ast.String):
        return f'the string "{expr.value}"'
    if isinstance(expr, ast.Call):
        return f"a call to `{expr.func.text}`"
    number = fold_number(expr)
    return f"`{number:g}`" if number is not None else "an expression"


_NUMBER = re.compile(r"-?(\d+\.?\d*|\.\d+)([eE][+-]?\d+)?")


def _type_help(leaf: ast.Expr, kind: str, high: int) -> str:
    if isinstance(leaf, ast.String) and _NUMBER.fullmatch(leaf.value.strip()):
        return f"drop the quotes: `{leaf.value.strip()}`"
    if kind == "real":
        return "write a number such as `0.5` or `-1e-3`"
    return "write 0 or 1" if kind == "binary" else f"write an integer from 0 to {high - 1}"


def _check_leaf(variable: ir.Variable, leaf: ast.Expr, sink: DiagnosticSink) -> float | int:
    """One number of a condition's value: its type, then its range; 0 after reporting."""
    name, kind, low, high = variable.name, variable.kind, variable.low, variable.high
    if kind == "binary" and isinstance(leaf, ast.Name) and leaf.ident.text in ("true", "false"):
        return int(leaf.ident.text == "true")
    number = fold_number(leaf)
    levels = variable.categories if kind == "categorical" else 2
    what = {"real": "a number", "binary": "0 or 1"}.get(kind, f"a category in [0, {levels})")
    if number is None or (kind != "real" and not isinstance(number, int)):
        sink.error(
            "E904",
            f"expected {what} for `{name}`, found {_describe(leaf)}",
            leaf.span,
            _type_help(leaf, kind, levels),
        )
        return 0
    if kind != "real":
        if not 0 <= number < levels:
            sink.error(
                "E905",
                f"`{name}` ({variable.describe()}) takes {what}, found `{number}`",
                leaf.span,
                _type_help(leaf, kind, levels),
            )
            return 0
        return number
    if not math.isfinite(number):
        sink.error(
            "E905", f"`{name}` must be finite, found `{number:g}`", leaf.span, "write a number"
        )
    elif low is not None and not low <= number <= high:
        sink.error(
            "E905",
            f"`{name}` must lie in [{low:g}, {high:g}], found `{number:g}`",
            leaf.span,
            f"write a number from {low:g} to {high:g}",
        )
    return float(number)
