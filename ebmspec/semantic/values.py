"""Bind call arguments to a `Signature` and check constant values.

In: an AST call (`ast.CallArgs`), a `registry.Signature`, and a `Scope` saying what names mean.
Out: `{param: value}` with defaults filled in, or None after reporting located diagnostics
(E104 unknown argument, E105 missing, E106 given twice, E107 positional misuse, E201 wrong type,
E202 out of range, E203 unknown choice). Tensor-typed arguments are handed to a callback (the
energy checker) so this module stays free of shapes.
"""

from __future__ import annotations

import difflib
import math
import re
from collections.abc import Callable
from dataclasses import dataclass, field

from ebmspec import ir
from ebmspec.diagnostics import DiagnosticSink
from ebmspec.frontend import ast
from ebmspec.semantic.registry import ACTIVATIONS, REQUIRED, Param, Signature
from ebmspec.source import Span

_INVALID = object()


@dataclass
class Scope:
    sink: DiagnosticSink
    variables: dict[str, ir.Variable] = field(default_factory=dict)
    samplers: dict[str, Span] = field(default_factory=dict)
    # Variables whose declaration was reported as wrong; uses of them are not reported again.
    broken: set[str] = field(default_factory=set)
    # A `data` line that was written but reported as wrong: checks that need data stay quiet.
    broken_data: bool = False
    # The energy is a normalised log-density (`energy_facts.flow_density`): `nll` can train it
    # exactly.
    flow: bool = False
    # The checked energy (None when it is missing or broken): what the latent checks analyse.
    energy: ir.Energy | None = None
    # The dataset draws every batch afresh (toy, moons): no training rows to key chains by.
    drawn_data: bool = False
    # The spec's `params` (semantic.params), by name.
    params: dict[str, ir.ParamDecl] = field(default_factory=dict)


def suggest(name: str, candidates) -> str:
    """' (did you mean `x`?)' when a close candidate exists."""
    close = difflib.get_close_matches(name, list(candidates), n=1, cutoff=0.6)
    return f"; did you mean `{close[0]}`?" if close else ""


def fold_number(expr: ast.Expr) -> int | float | None:
    """Value of a constant numeric expression (numbers, unary minus, + - * /), else None."""
    if isinstance(expr, ast.Number):
        return expr.value
    if isinstance(expr, ast.Neg):
        inner = fold_number(expr.operand)
        return None if inner is None else -inner
    if isinstance(expr, ast.BinOp):
        left, right = fold_number(expr.left), fold_number(expr.right)
        if left is None or right is None:
            return None
        if isinstance(expr, ast.Add):
            return left + right
        if isinstance(expr, ast.Sub):
            return left - right
        if isinstance(expr, ast.Mul):
            return left * right
        if isinstance(expr, ast.Div) and right != 0:
            return left / right
        if isinstance(expr, ast.Pow):
            try:
                value = left**right
                return value if isinstance(value, int | float) and math.isfinite(value) else None
            except (OverflowError, ZeroDivisionError):
                return None
    return None


def describe_found(expr: ast.Expr) -> str:
    """How a diagnostic names an expression that is not what was expected."""
    if isinstance(expr, ast.Name):
        return f"`{expr.ident.text}`"
    if isinstance(expr, ast.String):
        return f'the string "{expr.value}"'
    if isinstance(expr, ast.List):
        return "a list"
    if isinstance(expr, ast.Call):
        return f"a call to `{expr.func.text}`"
    if isinstance(expr, ast.Number):
        return f"`{expr.text}`"  # as written: `1e3`, `1.0` (not the 1000 and 1 they fold to)
    number = fold_number(expr)
    return f"`{number:g}`" if number is not None else "an expression"


_NUMBER = re.compile(r"-?(\d+\.\d*|\.\d+|\d+)([eE][+-]?\d+)?")
_NUMERIC = {
    "int": (True, None, "an integer"),
    "nonneg_int": (True, 0, "a non-negative integer"),
    "posint": (True, 1, "a positive integer"),
    "float": (False, None, "a number"),
    "nonneg_float": (False, 0, "a non-negative number"),
    "posfloat": (False, "pos", "a positive number"),
    "prob": (False, 0, "a number in [0, 1]"),
}


def check_number(kind: str, expr: ast.Expr, scope: Scope, what: str) -> int | float | object:
    integral, low, label = _NUMERIC[kind]
    value = fold_number(expr)
    if value is None or (integral and not isinstance(value, int)):
        quoted = isinstance(expr, ast.String) and _NUMBER.fullmatch(expr.value.strip())
        whole = integral and isinstance(value, float) and value.is_integer()
        scope.sink.error(
            "E201",
            f"expected {label} for {what}, found {describe_found(expr)}",
            expr.span,
            f"drop the quotes: `{expr.value.strip()}`"
            if quoted
            else f"write it without a decimal point or exponent: `{int(value)}`"
            if whole
            else f"write {label}, e.g. `{'10' if integral else '0.1'}`",
        )
        return _INVALID
    bad = (low == "pos" and value <= 0) or (isinstance(low, int) and value < low)
    if kind == "prob" and value > 1:
        bad = True
    if bad:
        scope.sink.error(
            "E202", f"{what} must be {label}, found `{value:g}`", expr.span, f"use {label}"
        )
        return _INVALID
    return float(value) if not integral else value


def check_value(ptype: str, expr: ast.Expr, scope: Scope, what: str, param: Param | None = None):
    """Check a constant value of registry type `ptype`; return it, or _INVALID after reporting."""
    ptype = ptype.rstrip("?")
    sink = scope.sink
    if ptype in _NUMERIC:
        return check_number(ptype, expr, scope, what)
    if ptype in ("posints", "nonneg_ints", "floats"):
        element = {"posints": "posint", "nonneg_ints": "nonneg_int", "floats": "float"}[ptype]
        if not isinstance(expr, ast.List):
            example = f"[{expr.text}]" if isinstance(expr, ast.Number) else "[256, 256]"
            sink.error(
                "E201",
                f"expected a list for {what}, found {describe_found(expr)}",
                expr.span,
                f"write a list in square brackets, e.g. `{example}`",
            )
            return _INVALID
        values = tuple(
            check_number(element, item, scope, f"an element of {what}") for item in expr.items
        )
        return _INVALID if _INVALID in values else values
    if ptype == "betas":  # Adam's two decay rates
        rates = "write the decay rates of the gradient's mean and square, e.g. `[0.9, 0.999]`"
        if not isinstance(expr, ast.List):
            sink.error(
                "E201",
                f"expected a list of two numbers for {what}, found {describe_found(expr)}",
                expr.span,
                rates,
            )
            return _INVALID
        values = check_value("floats", expr, scope, what)
        if values is _INVALID:
            return _INVALID
        if len(values) != 2:
            sink.error(
                "E202",
                f"{what} must be two numbers, found {len(values)}",
                expr.span,
                rates,
            )
            return _INVALID
        for item, value in zip(expr.items, values, strict=True):
            if not 0 <= value < 1:
                sink.error(
                    "E202",
                    f"each of {what} must be in [0, 1), found `{value:g}`",
                    item.span,
                    "a decay rate below 1, e.g. `[0.9, 0.999]`",
                )
                return _INVALID
        return values
    if ptype == "bool":
        if isinstance(expr, ast.Name) and expr.ident.text in ("true", "false"):
            return expr.ident.text == "true"
        sink.error(
            "E201",
            f"expected `true` or `false` for {what}, found {describe_found(expr)}",
            expr.span,
            "write `true` or `false`",
        )
        return _INVALID
    if ptype == "string":
        if not isinstance(expr, ast.String):
            sink.error(
                "E201",
                f"expected a string for {what}, found {describe_found(expr)}",
                expr.span,
                'write a double-quoted string, e.g. `"data/train.csv"`',
            )
            return _INVALID
        if param is not None and param.choices and expr.value not in param.choices:
            options = ", ".join(f'"{c}"' for c in param.choices)
            sink.error(
                "E203",
                f'unknown value "{expr.value}" for {what}{suggest(expr.value, param.choices)}',
                expr.span,
                f"choose one of {options}",
            )
            return _INVALID
        return expr.value
    if ptype in ("activation", "choice", "variable", "sampler"):
        if ptype == "activation":
            known, noun = ACTIVATIONS, "activation"
        elif ptype == "choice":
            known, noun = param.choices, "value"
        elif ptype == "variable":
            known, noun = tuple(scope.variables), "variable"
        else:
            known, noun = tuple(scope.samplers), "sampler"
        if not isinstance(expr, ast.Name):
            article = "an" if noun[0] in "aeiou" else "a"
            quoted = isinstance(expr, ast.String) and expr.value in known
            sink.error(
                "E201",
                f"expected {article} {noun} name for {what}, found {describe_found(expr)}",
                expr.span,
                f"drop the quotes: `{expr.value}` is a name, not a string"
                if quoted
                else f"write one of: {', '.join(known) or '(none declared)'}",
            )
            return _INVALID
        name = expr.ident.text
        if ptype == "variable" and name in scope.broken:
            return _INVALID  # its declaration is already reported
        if name not in known:
            code = "E101" if ptype in ("variable", "sampler") else "E203"
            sink.error(
                code,
                f"unknown {noun} `{name}`{suggest(name, known)}",
                expr.span,
                f"{noun}s here: {', '.join(known) or '(none declared)'}",
            )
            return _INVALID
        return name
    if ptype == "strings":
        items = expr.items if isinstance(expr, ast.List) else (expr,)
        values = tuple(
            check_value("string", item, scope, f"an element of {what}") for item in items
        )
        return _INVALID if _INVALID in values else values
    if ptype == "choices":
        items = expr.items if isinstance(expr, ast.List) else (expr,)
        values = tuple(check_value("choice", item, scope, what, param) for item in items)
        return _INVALID if _INVALID in values else values
    raise AssertionError(f"no value checker for type {ptype!r}")


def bind_args(
    signature: Signature,
    args: ast.CallArgs | None,
    call_span: Span,
    scope: Scope,
    tensor: Callable[[Param, ast.Expr], object] | None = None,
    what: str = "",
) -> dict | None:
    """Match positional and keyword arguments to `signature`; None if anything was wrong."""
    sink = scope.sink
    title = what or f"`{signature.name}`"
    items = args.items if args is not None else ()
    given: dict[str, tuple[Param, ast.Expr, Span]] = {}
    variadic: list[ast.Expr] = []
    positional_params = [p for p in signature.params if p.positional]
    ok = True
    seen_keyword = False
    positional_count = 0
    misspelled: set[str] = set()  # parameters an unknown keyword probably meant (no E105 then)
    for item in items:
        if isinstance(item, ast.KeywordArg):
            seen_keyword = True
            name = item.name.text
            param = signature.param(name)
            if param is None:
                names = [p.name for p in signature.params]
                listing = ", ".join(names) if names else "no arguments"
                sink.error(
                    "E104",
                    f"{title} has no argument `{name}`{suggest(name, names)}",
                    item.name.span,
                    f"{title} takes: {listing}",
                )
                misspelled.update(difflib.get_close_matches(name, names, n=1, cutoff=0.6))
                ok = False
                continue
            if name in given:
                sink.error(
                    "E106",
                    f"argument `{name}` of {title} is given twice",
                    item.name.span,
                    "remove one of them",
                )
                ok = False
                continue
            given[name] = (param, item.value, item.name.span)
            continue
        if seen_keyword:
            sink.error(
                "E107",
                f"positional argument after keyword arguments in {title}",
                item.span,
                "put positional arguments first",
            )
            ok = False  # still bound below, so the parameter is not also reported missing
        if positional_count < len(positional_params):
            param = positional_params[positional_count]
            positional_count += 1
            given[param.name] = (param, item, item.span)
        elif signature.variadic is not None:
            variadic.append(item)
        elif not seen_keyword:  # after a keyword it is already reported above
            count = len(positional_params)
            keywords = [p.name for p in signature.params if not p.positional]
            hint = (
                f"name it: {', '.join(f'`{k} = …`' for k in keywords)}"
                if keywords
                else f"{title} takes {count} positional argument{'s' if count != 1 else ''}"
            )
            sink.error(
                "E107",
                f"too many positional arguments for {title} (it takes {count})",
                item.span,
                hint,
            )
            ok = False
    bound: dict = {}
    for param in signature.params:
        if param.name not in given:
            if param.name in misspelled:
                ok = False
            elif param.default is REQUIRED:
                sink.error(
                    "E105",
                    f"{title} needs the argument `{param.name}`",
                    call_span,
                    f"add `{param.name} = …`"
                    if not param.positional
                    else f"pass it as the first argument: `{signature.name}(…)`",
                )
                ok = False
            else:
                bound[param.name] = param.default
            continue
        _, expr, _ = given[param.name]
        base = param.type.rstrip("?")
        if base in ("tensor", "discrete", "number_or_tensor"):
            value = tensor(param, expr) if tensor is not None else _INVALID
        else:
            value = check_value(param.type, expr, scope, f"`{param.name}` of {title}", param)
        if value is _INVALID or value is None and base in ("tensor", "discrete"):
            ok = False
        bound[param.name] = value
    if signature.variadic is not None:
        values = [tensor(Param("input", signature.variadic), e) for e in variadic]
        if any(v is None or v is _INVALID for v in values):
            ok = False
        bound["*"] = tuple(values)
    return bound if ok else None


def as_func(expr: ast.Expr) -> ast.Func | None:
    """A setting's value `name` or `name(args)` as the statement-position `Func` the block
    checkers take; None for any other expression (the caller reports it)."""
    if isinstance(expr, ast.Name):
        return ast.Func(expr.span, expr.ident, None)
    if isinstance(expr, ast.Call):
        return ast.Func(expr.span, expr.func, expr.args)
    return None


def make_call(name: str, bound: dict, span: Span) -> ir.Call:
    """The IR call of a bound signature (variadic tensors, key `*`, are not settings)."""
    return ir.Call(name, tuple((k, v) for k, v in bound.items() if k != "*"), span)


def resolve(sink: DiagnosticSink, table: dict, func: ast.Func, noun: str) -> Signature | None:
    """The signature `func` names in `table`, or None after an E103 with a suggestion."""
    signature = table.get(func.name.text)
    if signature is None:
        sink.error(
            "E103",
            f"unknown {noun} `{func.name.text}`{suggest(func.name.text, table)}",
            func.name.span,
            f"{noun}s: {', '.join(table)}",
        )
    return signature


INVALID = _INVALID


def keyword_span(func: ast.Func, key: str) -> Span:
    """The value of keyword argument `key` of a call (the whole call if it is not given)."""
    items = func.args.items if func.args is not None else ()
    spans = [a.value.span for a in items if isinstance(a, ast.KeywordArg) and a.name.text == key]
    return spans[0] if spans else func.span


def item_span(func: ast.Func, key: str, text: str) -> Span:
    """The item written `text` in the list value of keyword argument `key` (else the value)."""
    value = keyword_span(func, key)
    items = func.args.items if func.args is not None else ()
    for arg in items:
        if isinstance(arg, ast.KeywordArg) and arg.name.text == key:
            elements = arg.value.items if isinstance(arg.value, ast.List) else ()
            for element in elements:
                written = element.ident.text if isinstance(element, ast.Name) else None
                written = element.text if isinstance(element, ast.Number) else written
                if written == text:
                    return element.span
    return value
