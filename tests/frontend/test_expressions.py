"""Operator precedence and grouping of energy expressions, and constant folding of `**`."""

from __future__ import annotations

import pytest

from ebmspec.frontend import ast
from ebmspec.frontend.parser import parse_source
from ebmspec.semantic.values import fold_number
from ebmspec.source import Source


def _result(expression: str) -> ast.Expr:
    text = f'model m "m"\nvariables {{ x : real[2] }}\nenergy {{ return {expression} }}\n'
    program = parse_source(Source("m.ebm", text))
    energy = next(item for item in program.items if isinstance(item, ast.EnergyBlock))
    return next(s.value for s in energy.stmts if isinstance(s, ast.ReturnStmt))


def _shape(expr: ast.Expr) -> str:
    """The expression fully parenthesised."""
    if isinstance(expr, ast.BinOp):
        return f"({_shape(expr.left)} {expr.symbol} {_shape(expr.right)})"
    if isinstance(expr, ast.Neg):
        return f"(-{_shape(expr.operand)})"
    if isinstance(expr, ast.Name):
        return expr.ident.text
    return expr.text


@pytest.mark.parametrize(
    ("text", "grouped"),
    [
        ("-x ** 2", "(-(x ** 2))"),
        ("x ** 2 ** 3", "(x ** (2 ** 3))"),
        ("2 * x ** 2", "(2 * (x ** 2))"),
        ("x ** -1", "(x ** (-1))"),
        ("1 - x ** 2 / 4", "(1 - ((x ** 2) / 4))"),
    ],
)
def test_power_binds_tighter_than_unary_minus_and_groups_to_the_right(text, grouped):
    assert _shape(_result(text)) == grouped


def test_constant_powers_fold_and_unsafe_ones_do_not():
    assert fold_number(_result("2 ** 10")) == 1024
    assert fold_number(_result("4 ** 0.5")) == 2.0
    assert fold_number(_result("(-8) ** 0.5")) is None  # complex
    assert fold_number(_result("10 ** 400.0")) is None  # overflow
    assert fold_number(_result("0 ** -1")) is None
