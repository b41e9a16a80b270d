"""Check the `data` line: dataset arguments, the fields it provides, and transforms.

In: `ast.DataDecl` and the declared variables. Out: `ir.Dataset`. Every observed (non-`latent`)
variable must be a field of the dataset with the same domain (E601/E602), except that a real
field in [0, 1] becomes a `binary` variable of the same shape through `binarize` (its clause's
only step); the other transforms apply to observed real variables only (E603).
"""

from __future__ import annotations

import math

from ebmspec import ir
from ebmspec.frontend import ast
from ebmspec.semantic.registry import DATASETS, TRANSFORMS
from ebmspec.semantic.values import Scope, bind_args, item_span, keyword_span, resolve

Field = tuple[str, tuple[int, ...], int | None]  # kind, shape, categories


def dataset_fields(name: str, args: dict, variables=()) -> dict[str, Field]:
    """The variables a dataset provides, as a function of its arguments (its module's `fields`).
    A dataset that maps its fields onto the spec's variables by name (`fields` gives None: a csv
    without `features`, an npz) provides what the observed `variables` declare, a binarized one
    as the real values it is made from; the loader checks the file against them."""
    fields = DATASETS[name].extra["fields"](args)
    if fields is not None:
        return fields
    return {v.name: (v.kind, v.shape, v.categories) for v in variables if v.observed}


def raw_fields(data: ir.Dataset, fields: dict[str, Field]) -> dict[str, Field]:
    """`fields` as the file holds them: a binarized variable's field is real."""
    binarized = {t.variable for t in data.transforms for s in t.steps if s.name == "binarize"}
    return {
        name: ("real", shape, None) if name in binarized else (kind, shape, categories)
        for name, (kind, shape, categories) in fields.items()
    }


def describe_field(field: Field) -> str:
    kind, shape, categories = field
    dims = ", ".join(map(str, shape))
    if kind == "categorical":
        return f"categorical({categories})" + (f"[{dims}]" if shape else "")
    return f"{kind}[{dims}]"


def _clauses(decl: ast.DataDecl, name: str) -> list:
    return [clause for clause in decl.transforms if clause.variable.text == name]


def _mapping_help(variable: ir.Variable, field: Field, binarized: bool) -> str:
    """How to make a declared variable and the field of the same name agree."""
    kind, shape, _ = field
    declare = f"declare `{variable.name} : {describe_field(field)}`"
    if variable.kind == "binary" and kind == "real" and variable.shape == shape:
        step = f"transform {variable.name}: binarize(threshold = 0.5)"
        return f"{declare}, or make its values 0/1: `{step}`"
    if kind == "real" and variable.kind == "real" and math.prod(shape) == variable.sites:
        return f"{declare} (it holds the same {variable.sites} values; `reshape` it in the energy)"
    return declare + (" (binarize keeps the field's shape)" if binarized else "")


def check_data(scope: Scope, decl: ast.DataDecl | None) -> ir.Dataset | None:
    if decl is None:
        return None
    sink = scope.sink
    signature = resolve(sink, DATASETS, ast.Func(decl.span, decl.name, decl.args), "dataset")
    if signature is None:
        return None
    bound = bind_args(signature, decl.args, decl.span, scope, what=f"dataset `{signature.name}`")
    if bound is None:
        return None
    rule = signature.extra["problem"]  # a rule between the dataset's own arguments, if any
    problem = rule(bound) if rule is not None else None  # (code, message, help)
    if problem is not None:
        sink.error(problem[0], problem[1], decl.span, problem[2])
        return None
    fields = dataset_fields(signature.name, bound, scope.variables.values())
    holdout = bound.get("holdout") or ()
    if holdout:
        classes = fields["y"][2] if "y" in fields else None
        func = ast.Func(decl.span, decl.name, decl.args)
        bad = [k for k in holdout if classes is None or k >= classes]
        if bad or len(set(holdout)) >= (classes or 0):
            what = (
                f"dataset `{signature.name}` has no label to hold out"
                if classes is None
                else f"label {bad[0]} is not one of the {classes} classes (0 to {classes - 1})"
                if bad
                else f"holding out all {classes} classes leaves nothing to train on"
            )
            sink.error(
                "E605", what, item_span(func, "holdout", str(bad[0])) if bad else
                keyword_span(func, "holdout"),
                "name some of the label values, e.g. `holdout = [8, 9]`",
            )  # fmt: skip
            return None
    binarized = {
        clause.variable.text
        for clause in decl.transforms
        if any(func.name.text == "binarize" for func in clause.funcs)
    }
    for variable in scope.variables.values():
        if not variable.observed:
            continue
        field = fields.get(variable.name)
        if field is None:
            sink.error(
                "E601",
                f"dataset `{signature.name}` does not provide `{variable.name}`",
                variable.span,
                "it provides "
                + ", ".join(f"`{n} : {describe_field(f)}`" for n, f in fields.items())
                + f"; rename `{variable.name}` to the field it holds, or mark it `latent` "
                "if it is not observed",
            )
            continue
        kind, shape, categories = field
        if variable.name in binarized and kind == "real":
            kind, categories = "binary", None  # what binarize makes of it
        if (variable.kind, variable.shape, variable.categories) != (kind, shape, categories):
            sink.error(
                "E602",
                f"`{variable.name}` is declared {variable.describe()} but dataset "
                f"`{signature.name}` provides {describe_field(field)}",
                variable.span,
                _mapping_help(variable, field, variable.name in binarized),
            )
    transforms = []
    for clause in decl.transforms:
        name = clause.variable.text
        variable = scope.variables.get(name)
        if name in scope.broken:
            continue  # its declaration is already reported
        binary = variable is not None and variable.kind == "binary" and name in binarized
        if variable is None or (variable.kind != "real" and not binary) or not variable.observed:
            what = (
                "not a declared variable"
                if variable is None
                else ("latent" if not variable.observed else variable.kind)
            )
            sink.error(
                "E603",
                f"transforms apply to observed real variables; `{name}` is {what}",
                clause.variable.span,
                "transform the image/feature variable, e.g. `x`",
            )
            continue
        steps = []
        for func in clause.funcs:
            step = resolve(sink, TRANSFORMS, func, "transform")
            if step is None:
                continue
            if name in binarized and (len(clause.funcs) > 1 or len(_clauses(decl, name)) > 1):
                sink.error(
                    "E603",
                    f"`binarize` makes `{name}` binary, so it is the only transform of `{name}`",
                    func.span,
                    f"keep `transform {name}: binarize(...)` alone; the other steps act on "
                    "real values",
                )
                break
            args = bind_args(step, func.args, func.span, scope)
            if args is not None:
                steps.append(ir.Call(step.name, tuple(args.items()), func.span))
        transforms.append(ir.Transform(name, tuple(steps), clause.span))
    source = ir.Call(signature.name, tuple(bound.items()), decl.span, _where(decl))
    return ir.Dataset(source, tuple(transforms), decl.span)


def _where(decl: ast.DataDecl) -> tuple:
    """The spans of the data call's written arguments and of their string list items."""
    where = []
    for arg in decl.args.items if decl.args is not None else ():
        if not isinstance(arg, ast.KeywordArg):
            continue
        key = arg.name.text
        where.append((key, arg.value.span))
        for item in arg.value.items if isinstance(arg.value, ast.List) else ():
            if isinstance(item, ast.String):
                where.append((f"{key}[{item.value}]", item.span))
    return tuple(where)
