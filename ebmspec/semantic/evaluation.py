"""The evaluate block: predictions and reports.

In: `ast.EvaluateBlock`, the declared variables and the checked `data` line. Out: `ir.Evaluate`,
with its checks (E701-E706: what can be predicted and from what, grid and density variables,
OOD sets and scores, every enumeration within MAX_ENUMERABLE). Mixed into `checker.Checker`.
"""

from __future__ import annotations

import math

from ebmspec import ir
from ebmspec.frontend import ast
from ebmspec.semantic import registry as reg
from ebmspec.semantic.values import bind_args, item_span, keyword_span, make_call, resolve

# A conditional sample grid has one row (column) per value of its variable.
GRID_LIMIT = 64


class EvaluationChecks:
    """Methods of `Checker` for the evaluate block (uses `self.sink`, `self.scope`)."""

    def _evaluate(
        self, block: ast.EvaluateBlock | None, data: ir.Dataset | None
    ) -> ir.Evaluate | None:
        if block is None:
            return None
        predictions, reports = [], []
        for stmt in block.stmts:
            if isinstance(stmt, ast.PredictStmt):
                prediction = self._prediction(stmt)
                if prediction is not None:
                    predictions.append(prediction)
                continue
            table = reg.REPORTS[stmt.kind.text]
            signature = resolve(self.sink, table, stmt.func, f"{stmt.kind.text} report")
            if signature is None:
                continue
            bound = bind_args(signature, stmt.func.args, stmt.func.span, self.scope)
            if bound is None:
                continue
            for key in ("rows", "cols"):
                name = bound.get(key)
                if name is not None and not self.scope.variables[name].discrete:
                    discrete = [v.name for v in self.scope.variables.values() if v.discrete]
                    self.sink.error(
                        "E705",
                        f"grid {key} must be a discrete variable; `{name}` is real",
                        keyword_span(stmt.func, key),
                        f"pick a discrete variable: {', '.join(discrete)}"
                        if discrete
                        else "the model has no discrete variable to lay out a grid by",
                    )
                elif name is not None and self.scope.variables[name].cardinality > GRID_LIMIT:
                    variable = self.scope.variables[name]
                    self.sink.error(
                        "E705",
                        f"a grid has one {key[:-1]} per value of `{name}` "
                        f"({variable.describe()}): {variable.cardinality:,} of them",
                        keyword_span(stmt.func, key),
                        f"lay the grid out by a variable with at most {GRID_LIMIT} values",
                    )
            if signature.name == "grid" and not any(
                v.kind == "real" and len(v.shape) == 3 and v.shape[0] in (1, 3)
                for v in self.scope.variables.values()
            ):
                self.sink.error(
                    "E705",
                    "a sample grid draws an image variable (real[1, H, W] or real[3, H, W]), "
                    "and this model has none",
                    stmt.func.span,
                    "drop the grid; `ebmspec sample RUN -o samples.npz` saves any model's samples",
                )
            if stmt.kind.text == "density":
                variable = self.scope.variables[bound["variable"]]
                if variable.kind != "real" or variable.shape != (2,):
                    self.sink.error(
                        "E705",
                        f"density plots need a real[2] variable; "
                        f"`{variable.name}` is {variable.describe()}",
                        stmt.func.span,
                        "plot a 2-D real variable",
                    )
            variables = list(self.scope.variables.values())
            discrete_any = any(v.discrete for v in variables)
            if stmt.kind.text == "ood" and not any(not v.discrete for v in variables):
                self.sink.error(
                    "E706",
                    "OOD detection scores real inputs, and this model has none",
                    stmt.func.span,
                    "OOD reports need a real variable such as an image",
                )
            elif stmt.kind.text == "ood" and (
                math.prod(v.cardinality for v in variables if v.discrete) > reg.MAX_ENUMERABLE
                or any(not v.observed and not v.discrete for v in variables)
            ):
                self.sink.error(
                    "E706",
                    "OOD scores sum every discrete variable out of log p(x) exactly, and this "
                    "model's "
                    + (
                        "real latent variables cannot be summed"
                        if any(not v.observed and not v.discrete for v in variables)
                        else f"have more than {reg.MAX_ENUMERABLE:,} joint values"
                    ),
                    stmt.func.span,
                    "drop the ood report, or keep the discrete variables small (at most "
                    f"{reg.MAX_ENUMERABLE:,} joint values)",
                )
            elif stmt.kind.text == "ood" and bound["score"] == "py" and not discrete_any:
                self.sink.error(
                    "E706",
                    "`score = py` is max p(y | x), and this model has no discrete variable",
                    keyword_span(stmt.func, "score"),
                    "use `score = px` (log p(x)) or `pxgrad`",
                )
            held = dict(data.source.args).get("holdout") if data is not None else None
            if stmt.kind.text == "ood" and "heldout" in bound["against"] and not held:
                self.sink.error(
                    "E706",
                    "OOD set `heldout` is the test rows of held-out classes, and the `data` line "
                    "holds none out",
                    item_span(stmt.func, "against", "heldout"),
                    "add e.g. `holdout = [8, 9]` to the data line, or drop `heldout`",
                )
            reals = [v for v in variables if not v.discrete]
            image = len(reals) == 1 and reals[0].name == "x" and len(reals[0].shape) == 3
            square = image and reals[0].shape[0] == 1 and reals[0].shape[1] == reals[0].shape[2]
            if stmt.kind.text == "ood" and "sklearn_digits" in bound["against"] and not square:
                self.sink.error(
                    "E706",
                    "OOD set `sklearn_digits` is grey digit images, and this model's real input "
                    "is not one square grey image `x : real[1, H, H]`",
                    item_span(stmt.func, "against", "sklearn_digits"),
                    "use it with image models such as MNIST's, or drop it",
                )
            scored = stmt.kind.text == "calibration" or signature.name == "accuracy"
            if scored and not any(isinstance(s, ast.PredictStmt) for s in block.stmts):
                what = "calibration" if stmt.kind.text == "calibration" else "`samples accuracy`"
                self.sink.error(
                    "E704",
                    f"{what} needs a `predict` statement",
                    stmt.span,
                    "add `predict y from x by energy`",
                )
            reports.append(
                ir.Report(
                    stmt.kind.text, make_call(signature.name, bound, stmt.func.span), stmt.span
                )
            )
        for report in reports:
            if report.call.name != "accuracy":
                continue
            # `samples accuracy` draws conditional samples of every value of each target.
            for name in dict.fromkeys(t for p in predictions for t in p.targets):
                variable = self.scope.variables[name]
                if variable.cardinality > reg.MAX_ENUMERABLE:
                    self.sink.error(
                        "E704",
                        "`samples accuracy` draws samples for every value of each predicted "
                        f"variable, and `{name}` ({variable.describe()}) has "
                        f"{variable.cardinality:,}, more than {reg.MAX_ENUMERABLE:,}",
                        report.span,
                        "drop the report, or predict a smaller variable",
                    )
        return ir.Evaluate(tuple(predictions), tuple(reports), block.span)

    def _prediction(self, stmt: ast.PredictStmt) -> ir.Prediction | None:
        targets = self._names(stmt.targets, "predict")
        given = self._names(stmt.given, "predict")
        if targets is None or given is None:
            return None
        for ident in stmt.targets.names:
            if not self.scope.variables[ident.text].discrete:
                self.sink.error(
                    "E701",
                    f"only discrete variables can be predicted; `{ident.text}` is real",
                    ident.span,
                    "predict categorical or binary variables",
                )
                return None
            if not self.scope.variables[ident.text].observed:
                self.sink.error(
                    "E701",
                    f"`{ident.text}` is latent: predictions are scored against the data's "
                    "values, and the data has none of it",
                    ident.span,
                    f"predict an observed variable; sample `{ident.text}` with `ebmspec sample`",
                )
                return None
            if ident.text in given:
                self.sink.error(
                    "E702",
                    f"`{ident.text}` is both predicted and given",
                    ident.span,
                    "a variable is either a target or an input",
                )
                return None
        methods = []
        for func in stmt.methods:
            signature = resolve(self.sink, reg.PREDICT_METHODS, func, "prediction method")
            if signature is None:
                continue
            bound = bind_args(signature, func.args, func.span, self.scope)
            if bound is None:
                continue
            if signature.name == "energy":
                # Variables neither given nor predicted are summed out (latents among them).
                hidden = [v for n, v in self.scope.variables.items()
                          if n not in targets and n not in given]  # fmt: skip
                real = [v.name for v in hidden if not v.discrete]
                if real:
                    self.sink.error(
                        "E703",
                        "energy-based prediction sums out the variables neither given nor "
                        f"predicted, and {', '.join(f'`{n}`' for n in real)} "
                        f"{'is' if len(real) == 1 else 'are'} real",
                        func.span,
                        f"give {' and '.join(real)} (`from ..., {real[0]}`), or predict by "
                        "`samples(...)`",
                    )
                    continue
                summed = [*targets, *(v.name for v in hidden)]
                total = math.prod(self.scope.variables[t].cardinality for t in summed)
                if total > reg.MAX_ENUMERABLE:
                    described = ", ".join(
                        f"`{t}` ({self.scope.variables[t].describe()})" for t in summed
                    )
                    self.sink.error(
                        "E703",
                        f"energy-based prediction of {described} enumerates {total} configurations",
                        func.span,
                        f"use `samples(...)`: at most {reg.MAX_ENUMERABLE} can be enumerated",
                    )
                    continue
            methods.append(make_call(signature.name, bound, func.span))
        return ir.Prediction(targets, given, tuple(methods), stmt.span)
