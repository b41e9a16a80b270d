"""Check the `params { ... }` block: the model's own tensors, learned or fixed.

In: `ast.ParamsBlock` and the declared variables. Out: `ir.ParamDecl`s (name, shape, init, fixed).
A declaration is `NAME[shape]? = value fixed?`, the value a number (every element starts there),
a tensor literal (nested lists of numbers; its shape is read off and must agree with a written
one) or `normal(std = s)`. Names are unique among variables and parameters (E102); a value of
another form, a ragged or non-numeric literal, or a literal whose shape disagrees is E308.
Nothing here runs code: a literal is numbers only.
"""

from __future__ import annotations

from ebmspec import ir
from ebmspec.frontend import ast
from ebmspec.semantic.shapes import fmt_shape
from ebmspec.semantic.values import Scope, fold_number

_FORMS = "a number, a list of numbers (a tensor literal) or `normal(std = 0.1)`"


def check_params(scope: Scope, block: ast.ParamsBlock | None) -> tuple[ir.ParamDecl, ...]:
    if block is None:
        return ()
    found: dict[str, ir.ParamDecl] = {}
    for decl in block.decls:
        name = decl.name.text
        if name in scope.variables or name in found:
            where = "a variable" if name in scope.variables else "a parameter"
            scope.sink.error(
                "E102",
                f"`{name}` is already declared as {where}",
                decl.name.span,
                "variables and parameters share one namespace; rename one of them",
            )
            continue
        shape = tuple(int(d.value) for d in decl.shape.dims) if decl.shape else None
        if shape is not None and any(size < 1 for size in shape):
            scope.sink.error(
                "E308", f"shape {fmt_shape(shape)} has an empty axis", decl.shape.span,
                "every axis of a parameter holds at least one element",
            )  # fmt: skip
            scope.broken.add(name)
            continue
        checked = _init(scope, decl, shape)
        if checked is None:
            scope.broken.add(name)  # reported here: its uses stay silent
        else:
            init, shape = checked
            found[name] = ir.ParamDecl(name, shape, init, decl.fixed, decl.span)
    return tuple(found.values())


def _init(scope: Scope, decl: ast.ParamDecl, shape):
    """((kind, value), shape) of a declaration's value, or None after a located E308."""
    value = decl.value
    number = fold_number(value)
    if number is not None:
        return ("constant", float(number)), shape or ()
    if isinstance(value, ast.List):
        literal = tensor_literal(scope, value)
        if literal is None:
            return None
        values, found = literal
        if shape is not None and shape != found:
            scope.sink.error(
                "E308",
                f"the literal has shape {fmt_shape(found)}, the declaration says "
                f"{fmt_shape(shape)}",
                value.span,
                f"write `{decl.name.text}{fmt_shape(found)} = ...`, or drop the shape and let "
                "the literal give it",
            )
            return None
        return ("values", values), found
    if isinstance(value, ast.Call) and value.func.text == "normal":
        items = value.args.items if value.args else ()
        std = None
        if len(items) == 1 and isinstance(items[0], ast.KeywordArg) and items[0].name.text == "std":
            std = fold_number(items[0].value)
        if std is None or std <= 0:
            scope.sink.error(
                "E308",
                "`normal` takes one argument, `std`, a number > 0",
                value.span,
                "write e.g. `normal(std = 0.01)`",
            )
            return None
        return ("normal", float(std)), shape or ()
    scope.sink.error(
        "E308",
        "a parameter's value must be " + _FORMS,
        value.span,
        "parameters hold numbers only; compute with them in the `energy` block",
    )
    return None


def tensor_literal(scope: Scope, node: ast.Expr):
    """(nested tuple of floats, shape) of a tensor literal, or None after a located E308."""
    number = fold_number(node)
    if number is not None:
        return float(number), ()
    if not isinstance(node, ast.List):
        scope.sink.error(
            "E308",
            "a tensor literal holds numbers only",
            node.span,
            "write the values out as numbers: `[[0, 1], [1, 0]]`",
        )
        return None
    if not node.items:
        scope.sink.error(
            "E308", "an empty list is not a tensor", node.span, "give it at least one number"
        )
        return None
    parts = []
    for item in node.items:
        part = tensor_literal(scope, item)
        if part is None:
            return None
        parts.append(part)
    shapes = {shape for _, shape in parts}
    if len(shapes) > 1:
        first = parts[0][1]
        odd = next(i for i, (_, s) in enumerate(parts) if s != first)
        scope.sink.error(
            "E308",
            f"a ragged literal: element {odd} has shape {fmt_shape(parts[odd][1])}, element 0 "
            f"has {fmt_shape(first)}",
            node.items[odd].span,
            "every row of a tensor literal has the same length",
        )
        return None
    return tuple(v for v, _ in parts), (len(parts), *parts[0][1])
