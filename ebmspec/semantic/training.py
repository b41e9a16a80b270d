"""The train block: objective, optimizer and settings.

In: `ast.TrainBlock` and the declared variables and samplers. Out: `ir.Train`, with
objective-specific checks (E501-E508: a sampler to use, a label JEM can enumerate, tractable NLL,
semi-supervised settings, how latent variables are summed: `semantic.latents`). Mixed into
`checker.Checker`.
"""

from __future__ import annotations

import math

from ebmspec import ir
from ebmspec.frontend import ast
from ebmspec.semantic import registry as reg
from ebmspec.semantic.latents import check_latents
from ebmspec.semantic.values import (
    INVALID,
    as_func,
    bind_args,
    check_value,
    make_call,
    resolve,
    suggest,
)


class TrainingChecks:
    """Methods of `Checker` for train and evaluate blocks (uses `self.sink`, `self.scope`)."""

    # An objective that replaces the spec's (profile, --set) runs the sampler the spec's own
    # objective names unless it names one: a spec with a second sampler (e.g. one for
    # predictions) needs no `sampler =` in every replacement.
    replaced_sampler: str | None = None

    def check_training_call(self, expr: ast.Expr, key: str) -> ir.Call | None:
        """A whole `objective = ...` / `optimizer = ...` value (a profile or `--set` may give
        one): checked exactly as in the train block, defaults filled in."""
        table = reg.OBJECTIVES if key == "objective" else reg.OPTIMIZERS
        call = self._config_call(expr, table, key)
        if call is None or key != "objective":
            return call
        return self._objective(call)

    # ---- training ----
    def _train(self, block: ast.TrainBlock | None, data) -> ir.Train | None:
        if block is None:
            return None
        values: dict = {}
        objective = optimizer = None
        for setting in block.settings:
            key = setting.name.text
            param = reg.TRAIN_SETTINGS.get(key)
            if param is None:
                self.sink.error(
                    "E104",
                    f"unknown train setting `{key}`{suggest(key, reg.TRAIN_SETTINGS)}",
                    setting.name.span,
                    f"train settings: {', '.join(reg.TRAIN_SETTINGS)}",
                )
                continue
            if (
                key in values
                or (key == "objective" and objective)
                or (key == "optimizer" and optimizer)
            ):
                self.sink.error(
                    "E106", f"`{key}` is set twice", setting.name.span, "keep one assignment"
                )
                continue
            if key in ("objective", "optimizer"):
                table = reg.OBJECTIVES if key == "objective" else reg.OPTIMIZERS
                call = self._config_call(setting.value, table, key)
                if key == "objective":
                    objective = call or False
                else:
                    optimizer = call or False
                continue
            value = check_value(param.type, setting.value, self.scope, f"`{key}`")
            if value is not INVALID:
                values[key] = value
        if objective is None:
            self.sink.error(
                "E501",
                "the train block has no `objective`",
                block.span,
                "add e.g. `objective = pcd(steps = 20)`",
            )
            return None
        if not objective:
            return None
        objective = self._objective(objective)
        if objective is not None and values.get("labels_per_class") is not None:
            self._semi_supervised(objective, block, data)
        if optimizer is None:
            optimizer = ir.Call(
                "adam",
                tuple((p.name, p.default) for p in reg.OPTIMIZERS["adam"].params),
                block.span,
            )
        settings = tuple(
            (k, values.get(k, p.default))
            for k, p in reg.TRAIN_SETTINGS.items()
            if k not in ("objective", "optimizer")
        )
        if objective is None or not optimizer:
            return None
        return ir.Train(objective, optimizer, settings, block.span)

    def _config_call(self, expr: ast.Expr, table: dict, key: str) -> ir.Call | None:
        func = as_func(expr)
        if func is None:
            self.sink.error(
                "E201",
                f"`{key}` must be a call such as `{next(iter(table))}(...)`",
                expr.span,
                f"{key}s: {', '.join(table)}",
            )
            return None
        signature = resolve(self.sink, table, func, key)
        if signature is None:
            return None
        bound = bind_args(signature, func.args, func.span, self.scope)
        return None if bound is None else make_call(signature.name, bound, func.span)

    def _semi_supervised(self, objective: ir.Call, block, data) -> None:
        """`labels_per_class` needs jem or vera (which have a label cross-entropy) and a label
        the data gives: an observed discrete variable."""
        span = next(s.value.span for s in block.settings if s.name.text == "labels_per_class")
        labels = [v for v in self.scope.variables.values() if v.discrete and v.observed]
        latents = [v.name for v in self.scope.variables.values() if not v.observed]
        if objective.name not in ("jem", "vera"):
            self.sink.error(
                "E506",
                f"`labels_per_class` hides labels for semi-supervised training, which "
                f"`{objective.name}` does not do",
                span,
                "use `jem(...)` or `vera(..., alpha = 1)`: their cross-entropy uses the labelled "
                "examples, their generative term all of them",
            )
        elif not labels or data is None:
            self.sink.error(
                "E506",
                "`labels_per_class` keeps some labels of the data, but this model takes none "
                "from it (no observed discrete variable)",
                span,
                "declare the dataset's label, e.g. `y : categorical(10)`, or drop the setting",
            )
        elif latents:
            self.sink.error(
                "E506",
                "semi-supervised training scores log p(y | x) on the labelled rows without "
                f"summing latent variables out, and {', '.join(f'`{n}`' for n in latents)} "
                f"{'is' if len(latents) == 1 else 'are'} latent",
                span,
                "drop `labels_per_class` (train on every label), or drop the latent variables",
            )

    def _objective(self, call: ir.Call) -> ir.Call | None:
        names = dict(call.args)
        if "sampler" in names:
            sampler = names["sampler"]
            if sampler is None and self.replaced_sampler is not None:
                sampler = self.replaced_sampler
                call = call.with_arg("sampler", sampler)
            if sampler is None:
                if len(self.scope.samplers) > 1:
                    self.sink.error(
                        "E505",
                        f"the spec has {len(self.scope.samplers)} samplers; "
                        f"say which one `{call.name}` uses",
                        call.span,
                        f"add `sampler = {next(iter(self.scope.samplers))}`",
                    )
                    return None
                sampler = next(iter(self.scope.samplers), "default")
                call = call.with_arg("sampler", sampler)
        variables = self.scope.variables.values()
        if call.name in ("vera", "ssm", "dsm") and not any(not v.discrete for v in variables):
            self.sink.error(
                "E502",
                f"`{call.name}` trains continuous variables, and this model has none",
                call.span,
                "use `pcd`, `cd` or `nll`",
            )
            return None
        if call.name == "pseudo_likelihood" and not any(v.discrete and v.observed
                                                         for v in variables):  # fmt: skip
            self.sink.error(
                "E502",
                "`pseudo_likelihood` scores the sites of discrete observed variables, and this "
                "model has none",
                call.span,
                "use `dsm`, `ssm` or `pcd` for real variables",
            )
            return None
        if call.name == "dsm" and (not names["sigmas"] or min(names["sigmas"]) <= 0):
            self.sink.error(
                "E201",
                "`dsm`'s noise levels must be positive, and at least one",
                call.span,
                "e.g. `dsm(sigmas = [0.1])`, or several: `dsm(sigmas = [1.0, 0.5, 0.25, 0.1])`",
            )
            return None
        latents = [v for v in variables if not v.observed]
        if latents:
            call = check_latents(self.sink, self.scope, call, latents)
            if call is None:
                return None
        if call.name == "cll" and all(v.name == names["given"] for v in variables):
            self.sink.error(
                "E505",
                f"`cll` trains p(rest | {names['given']}), and `{names['given']}` is the only "
                "variable",
                call.span,
                "give it the variable the others are predicted from (a CRF's inputs), or use "
                "`pcd` for a joint model",
            )
            return None
        # jem and a supervised ssm, dsm or vera enumerate the label(s) for log p(y | x); vera also
        # marginalises every discrete variable (its generator makes the real ones only).
        supervised = call.name in ("ssm", "vera", "dsm") and (names.get("alpha") or 0) > 0
        marginal = call.name == "vera" and any(v.discrete for v in variables)
        if call.name == "jem" or supervised or marginal:
            label = names["label"]
            discrete = [v for v in variables if v.discrete and v.observed]
            if label is None and len(discrete) == 1:
                label = discrete[0].name
                call = call.with_arg("label", label)
            elif label is None and len(discrete) > 1 and all(v.observed for v in discrete):
                # No latent discrete variable: y is every observed label, enumerated jointly.
                total = math.prod(v.cardinality for v in discrete)
                if total <= reg.MAX_ENUMERABLE:
                    return call
            variable = self.scope.variables.get(label) if label else None
            if variable is None or not variable.discrete:
                self.sink.error(
                    "E503",
                    f"`{call.name}` marginalises a discrete label, and `{label}` is "
                    f"{variable.describe()}"
                    if variable is not None
                    else f"`{call.name}` marginalises a discrete label, and none is named",
                    call.span,
                    "name it: " + " or ".join(f"`label = {v.name}`" for v in discrete)
                    if discrete
                    else "declare a categorical label, e.g. `y : categorical(10)`",
                )
                return None
            if variable.cardinality > reg.MAX_ENUMERABLE:
                self.sink.error(
                    "E503",
                    f"`{call.name}` enumerates `{label}`, which has {variable.cardinality} values",
                    call.span,
                    f"use `pcd`: exact marginalisation needs <= {reg.MAX_ENUMERABLE}",
                )
                return None
        if call.name == "nll" and not self.scope.flow:
            total = math.prod(v.cardinality or 0 for v in variables)
            if any(not v.discrete for v in variables) or total > reg.MAX_ENUMERABLE:
                self.sink.error(
                    "E504",
                    "`nll` needs an exact likelihood: an energy that is a normalised flow "
                    "(`return nice(...)` of all the real variables, no discrete ones, or "
                    "`return nice(..., classes = K)[y]` with one categorical y), or every "
                    f"variable discrete with at most {reg.MAX_ENUMERABLE} joint values",
                    call.span,
                    "write the energy as `return nice(flatten(x))`, or use `pcd`, `cd` or `ssm`",
                )
                return None
        return call
