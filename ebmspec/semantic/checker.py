"""Check a whole spec: AST in, `ir.Program` out, all errors collected and raised once.

In: `ast.Program` and its `Source`. Out: a frozen `ir.Program`, or `UserError` with every
diagnostic found (names, types, domains, shapes, sampler/domain compatibility, data fields,
objectives, evaluation and profile keys). Energy expressions are checked by `semantic.energy`;
sampler defaults are filled in by `passes.defaults` afterwards.
"""

from __future__ import annotations

import math

from ebmspec import ir
from ebmspec.diagnostics import DiagnosticSink
from ebmspec.frontend import ast
from ebmspec.semantic import registry as reg
from ebmspec.semantic.data import check_data
from ebmspec.semantic.energy import EnergyChecker
from ebmspec.semantic.profiles import check_profiles
from ebmspec.semantic.values import INVALID, Scope, bind_args, check_value, fold_number, suggest
from ebmspec.source import Source, Span

_BLOCK_KEYWORDS = {
    ast.DataDecl: "data",
    ast.VariablesBlock: "variables",
    ast.EnergyBlock: "energy",
    ast.TrainBlock: "train",
    ast.EvaluateBlock: "evaluate",
}


def _call(name: str, bound: dict, span: Span) -> ir.Call:
    return ir.Call(name, tuple((k, v) for k, v in bound.items() if k != "*"), span)


def _resolve(sink: DiagnosticSink, table: dict, func: ast.Func, noun: str) -> reg.Signature | None:
    signature = table.get(func.name.text)
    if signature is None:
        sink.error(
            "E103",
            f"unknown {noun} `{func.name.text}`{suggest(func.name.text, table)}",
            func.name.span,
            f"{noun}s: {', '.join(table)}",
        )
    return signature


class Checker:
    def __init__(self, source: Source):
        self.source = source
        self.sink = DiagnosticSink(source)
        self.scope = Scope(self.sink)

    # ---- entry ----
    def check(self, program: ast.Program) -> ir.Program | None:
        singles: dict[str, ast.Node] = {}
        samplers: list[ast.SamplerBlock] = []
        profiles: list[ast.ProfileBlock] = []
        for item in program.items:
            if isinstance(item, ast.SamplerBlock):
                samplers.append(item)
            elif isinstance(item, ast.ProfileBlock):
                profiles.append(item)
            else:
                keyword = _BLOCK_KEYWORDS[type(item)]
                if keyword in singles:
                    first = singles[keyword].span
                    self.sink.error(
                        "E108",
                        f"duplicate `{keyword}` block (the first is at line {first.line})",
                        item.span,
                        f"a spec has one `{keyword}` block; merge them",
                    )
                else:
                    singles[keyword] = item
        for keyword in ("variables", "energy"):
            if keyword not in singles:
                self.sink.error(
                    "E108",
                    f"the spec has no `{keyword}` block",
                    program.header.span,
                    f"add `{keyword} {{ ... }}` after the model line",
                )

        variables = self._variables(singles.get("variables"))
        self.scope.variables = {v.name: v for v in variables}
        for block in samplers:
            if block.name.text in self.scope.samplers:
                line = self.scope.samplers[block.name.text].line
                self.sink.error(
                    "E102",
                    f"sampler `{block.name.text}` is already declared at line {line}",
                    block.name.span,
                    "give each sampler its own name",
                )
            else:
                self.scope.samplers[block.name.text] = block.span

        data = check_data(self.scope, singles.get("data"))
        energy_block = singles.get("energy")
        energy = EnergyChecker(self.scope).check(energy_block) if energy_block else None
        sampler_irs = tuple(self._sampler(block, data) for block in samplers)
        train = self._train(singles.get("train"), data)
        evaluate = self._evaluate(singles.get("evaluate"))
        if train is not None and data is None and any(v.observed for v in variables):
            self.sink.error(
                "E604",
                "training needs data but the spec has no `data` line",
                singles["train"].span,
                "add e.g. `data toy()`, or mark unobserved variables `latent`",
            )
        self.sink.raise_if_any()
        header = program.header
        result = ir.Program(
            name=header.name.text,
            doc=header.doc.value if header.doc else "",
            data=data,
            variables=variables,
            energy=energy,
            samplers=tuple(s for s in sampler_irs if s is not None),
            train=train,
            evaluate=evaluate,
            profiles=(),
            span=program.span,
        )
        result = _replace_profiles(result, check_profiles(self.scope, result, profiles))
        self.sink.raise_if_any()
        return result

    # ---- variables ----
    def _variables(self, block: ast.VariablesBlock | None) -> tuple[ir.Variable, ...]:
        if block is None:
            return ()
        result: dict[str, ir.Variable] = {}
        for decl in block.decls:
            variable = self._variable(decl)
            name = decl.name.text
            if name in result:
                self.sink.error(
                    "E102",
                    f"variable `{name}` is already declared at line {result[name].span.line}",
                    decl.name.span,
                    "rename one of the two declarations",
                )
            elif variable is not None:
                result[name] = variable
            else:
                self.scope.broken.add(name)
        return tuple(result.values())

    def _positive(self, number: ast.Number, what: str, minimum: int = 1) -> int | None:
        value = number.value
        if not isinstance(value, int) or value < minimum:
            self.sink.error(
                "E202",
                f"{what} must be an integer >= {minimum}, found `{number.text}`",
                number.span,
                f"use an integer >= {minimum}",
            )
            return None
        return value

    def _variable(self, decl: ast.VarDecl) -> ir.Variable | None:
        domain = decl.domain
        kind = domain.kind.text
        categories = None
        if kind == "categorical":
            if domain.arg is None:
                self.sink.error(
                    "E202",
                    "`categorical` needs its number of categories",
                    domain.span,
                    "write `categorical(K)` with K >= 2",
                )
                return None
            categories = self._positive(domain.arg, "the number of categories", 2)
        elif domain.arg is not None:
            self.sink.error(
                "E201",
                f"`{kind}` takes no `(...)` argument",
                domain.arg.span,
                f"write `{kind}[{domain.arg.text}]`; only categorical takes `(K)`",
            )
            return None
        if domain.shape is None and kind != "categorical":
            self.sink.error(
                "E014",
                f"`{kind}` needs a shape",
                domain.span,
                f"write `{kind}[2]` (a vector) or `{kind}[1, 28, 28]` (an image)",
            )
            return None
        dims = (
            tuple(self._positive(d, "a dimension") for d in domain.shape.dims)
            if domain.shape
            else ()
        )
        if None in dims or (kind == "categorical" and categories is None):
            return None
        low = high = None
        if decl.bounds is not None:
            if kind != "real":
                self.sink.error(
                    "E201",
                    f"bounds `in [a, b]` apply to real variables, not {kind}",
                    decl.bounds.span,
                    "remove the bounds",
                )
                return None
            low, high = fold_number(decl.bounds.low), fold_number(decl.bounds.high)
            if low is None or high is None or not low < high:
                self.sink.error(
                    "E202",
                    "bounds must be two numbers with low < high",
                    decl.bounds.span,
                    "write e.g. `in [0, 1]`",
                )
                return None
            low, high = float(low), float(high)
        return ir.Variable(
            decl.name.text, kind, dims, categories, low, high, not decl.latent, decl.span
        )

    # ---- samplers ----
    def _names(self, names: ast.NameList, context: str) -> tuple[str, ...] | None:
        ok, seen = True, []
        for ident in names.names:
            if ident.text in self.scope.broken:
                ok = False  # its declaration is already reported
            elif ident.text not in self.scope.variables:
                self.sink.error(
                    "E101",
                    f"unknown variable `{ident.text}` in {context}"
                    f"{suggest(ident.text, self.scope.variables)}",
                    ident.span,
                    f"declared variables: {', '.join(self.scope.variables)}",
                )
                ok = False
            elif ident.text in seen:
                self.sink.error(
                    "E106",
                    f"variable `{ident.text}` is listed twice",
                    ident.span,
                    "list each variable once",
                )
                ok = False
            seen.append(ident.text)
        return tuple(seen) if ok else None

    def _check_domains(self, signature: reg.Signature, names, spans, what: str, help: str) -> bool:
        ok = True
        for name, span in zip(names, spans, strict=True):
            variable = self.scope.variables[name]
            if variable.kind not in signature.domains:
                noun = "continuous" if variable.kind == "real" else variable.kind
                self.sink.error(
                    "E402",
                    f"{signature.name} cannot {what} {noun} variable "
                    f"`{name}` ({variable.describe()})",
                    span,
                    help,
                )
                ok = False
        return ok

    def _sampler(self, block: ast.SamplerBlock, data: ir.Dataset | None) -> ir.Sampler | None:
        inits: list[ir.Init] = []
        blocks: list[ir.Block] = []
        sweeps = 1
        initialised: dict[str, Span] = {}
        for stmt in block.stmts:
            if isinstance(stmt, ast.Setting):
                param = reg.SAMPLER_SETTINGS.get(stmt.name.text)
                if param is None:
                    self.sink.error(
                        "E104",
                        f"unknown sampler setting `{stmt.name.text}`"
                        f"{suggest(stmt.name.text, reg.SAMPLER_SETTINGS)}",
                        stmt.name.span,
                        "sampler settings: sweeps",
                    )
                    continue
                value = check_value(param.type, stmt.value, self.scope, f"`{param.name}`")
                sweeps = sweeps if value is INVALID else value
                continue
            names = self._names(stmt.names, f"sampler `{block.name.text}`")
            func = stmt.dist if isinstance(stmt, ast.InitStmt) else stmt.kernel
            table = reg.INIT_DISTS if isinstance(stmt, ast.InitStmt) else reg.KERNELS
            noun = "init distribution" if isinstance(stmt, ast.InitStmt) else "kernel"
            signature = _resolve(self.sink, table, func, noun)
            if names is None or signature is None:
                continue
            bound = bind_args(signature, func.args, func.span, self.scope)
            spans = [i.span for i in stmt.names.names]
            if isinstance(stmt, ast.InitStmt):
                init = self._init(stmt, signature, names, spans, bound, data, initialised)
                if init is not None:
                    inits.append(init)
            else:
                repeats = 1
                if stmt.repeat is not None:
                    repeats = self._positive(stmt.repeat, "`repeat`") or 1
                kinds = {self.scope.variables[n].kind == "real" for n in names}
                help = (
                    "use langevin, mala, hmc or metropolis for real variables"
                    if signature.name in ("gwg", "gibbs")
                    else "use gwg, gibbs or metropolis for discrete variables"
                )
                ok = self._check_domains(signature, names, spans, "update", help)
                if ok and len(kinds) > 1:
                    self.sink.error(
                        "E403",
                        "one block cannot mix continuous and discrete variables",
                        stmt.names.span,
                        "split it: update the discrete variables first, then the "
                        "continuous ones (paper 004, Algorithm 1)",
                    )
                    ok = False
                if ok and bound is not None:
                    blocks.append(
                        ir.Block(
                            _call(signature.name, bound, func.span),
                            names,
                            repeats,
                            False,
                            stmt.span,
                        )
                    )
        return ir.Sampler(block.name.text, tuple(inits), tuple(blocks), sweeps, block.span)

    def _init(self, stmt, signature, names, spans, bound, data, initialised) -> ir.Init | None:
        help = (
            "use uniform_data_range, normal or normal_data for real variables"
            if "real" not in signature.domains
            else "use uniform or data_frequency for discrete variables"
        )
        ok = self._check_domains(signature, names, spans, "initialise", help)
        for name, span in zip(names, spans, strict=True):
            variable = self.scope.variables[name]
            if name in initialised:
                self.sink.error(
                    "E406",
                    f"`{name}` already has an init distribution (line {initialised[name].line})",
                    span,
                    "keep one `init` per variable",
                )
                ok = False
            initialised[name] = span
            if signature.extra.get("needs_data") and (not variable.observed or data is None):
                reason = "is latent" if not variable.observed else "has no data (no `data` line)"
                self.sink.error(
                    "E405",
                    f"{signature.name} reads a data batch but `{name}` {reason}",
                    span,
                    "use `uniform` (bounded) or `normal` instead",
                )
                ok = False
            if signature.name == "uniform" and variable.kind == "real" and variable.low is None:
                self.sink.error(
                    "E407",
                    f"`uniform` needs bounds, and `{name}` is unbounded",
                    span,
                    f"declare `{name} : {variable.describe()} in [a, b]` or use "
                    "uniform_data_range / normal",
                )
                ok = False
        if not ok or bound is None:
            return None
        return ir.Init(names, _call(signature.name, bound, stmt.dist.span), False, stmt.span)

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
        if isinstance(expr, ast.Name):
            func = ast.Func(expr.span, expr.ident, None)
        elif isinstance(expr, ast.Call):
            func = ast.Func(expr.span, expr.func, expr.args)
        else:
            self.sink.error(
                "E201",
                f"`{key}` must be a call such as `{next(iter(table))}(...)`",
                expr.span,
                f"{key}s: {', '.join(table)}",
            )
            return None
        signature = _resolve(self.sink, table, func, key)
        if signature is None:
            return None
        bound = bind_args(signature, func.args, func.span, self.scope)
        return None if bound is None else _call(signature.name, bound, func.span)

    def _objective(self, call: ir.Call) -> ir.Call | None:
        names = dict(call.args)
        if "sampler" in names:
            sampler = names["sampler"]
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
        if call.name == "jem":
            label = names["label"]
            discrete = [v for v in variables if v.discrete]
            if label is None and len(discrete) == 1:
                label = discrete[0].name
                call = call.with_arg("label", label)
            variable = self.scope.variables.get(label) if label else None
            if variable is None or not variable.discrete:
                self.sink.error(
                    "E503",
                    f"`jem` marginalises a discrete label, and `{label}` is {variable.describe()}"
                    if variable is not None
                    else "`jem` marginalises a discrete label, and none is named",
                    call.span,
                    "name it: " + " or ".join(f"`label = {v.name}`" for v in discrete)
                    if discrete
                    else "declare a categorical label, e.g. `y : categorical(10)`",
                )
                return None
            if variable.cardinality > reg.MAX_ENUMERABLE:
                self.sink.error(
                    "E503",
                    f"`jem` enumerates `{label}`, which has {variable.cardinality} values",
                    call.span,
                    f"use `pcd`: exact marginalisation needs <= {reg.MAX_ENUMERABLE}",
                )
                return None
        if call.name == "nll":
            total = math.prod(v.cardinality or 0 for v in variables)
            if any(not v.discrete for v in variables) or total > reg.MAX_ENUMERABLE:
                self.sink.error(
                    "E504",
                    "`nll` needs every variable discrete with at most "
                    f"{reg.MAX_ENUMERABLE} joint values",
                    call.span,
                    "use `pcd` or `cd` for models with continuous variables",
                )
                return None
        if call.name in ("vera", "ssm") and not any(not v.discrete for v in variables):
            self.sink.error(
                "E502",
                f"`{call.name}` trains continuous variables, and this model has none",
                call.span,
                "use `pcd`, `cd` or `nll`",
            )
            return None
        return call

    # ---- evaluation ----
    def _evaluate(self, block: ast.EvaluateBlock | None) -> ir.Evaluate | None:
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
            signature = _resolve(self.sink, table, stmt.func, f"{stmt.kind.text} report")
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
                        _keyword_span(stmt.func, key),
                        f"pick a discrete variable: {', '.join(discrete)}"
                        if discrete
                        else "the model has no discrete variable to lay out a grid by",
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
            if stmt.kind.text == "calibration" and not any(
                isinstance(s, ast.PredictStmt) for s in block.stmts
            ):
                self.sink.error(
                    "E704",
                    "calibration needs a `predict` statement",
                    stmt.span,
                    "add `predict y from x by energy`",
                )
            reports.append(
                ir.Report(stmt.kind.text, _call(signature.name, bound, stmt.func.span), stmt.span)
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
            signature = _resolve(self.sink, reg.PREDICT_METHODS, func, "prediction method")
            if signature is None:
                continue
            bound = bind_args(signature, func.args, func.span, self.scope)
            if bound is None:
                continue
            if signature.name == "energy":
                total = math.prod(self.scope.variables[t].cardinality for t in targets)
                if total > reg.MAX_ENUMERABLE:
                    described = ", ".join(
                        f"`{t}` ({self.scope.variables[t].describe()})" for t in targets
                    )
                    self.sink.error(
                        "E703",
                        f"energy-based prediction of {described} enumerates {total} configurations",
                        func.span,
                        f"use `samples(...)`: at most {reg.MAX_ENUMERABLE} can be enumerated",
                    )
                    continue
            methods.append(_call(signature.name, bound, func.span))
        return ir.Prediction(targets, given, tuple(methods), stmt.span)


def _keyword_span(func: ast.Func, key: str) -> Span:
    """The value of keyword argument `key` of a call (the whole call if it is not given)."""
    items = func.args.items if func.args is not None else ()
    spans = [a.value.span for a in items if isinstance(a, ast.KeywordArg) and a.name.text == key]
    return spans[0] if spans else func.span


def _replace_profiles(program: ir.Program, profiles: tuple[ir.Profile, ...]) -> ir.Program:
    from dataclasses import replace

    return replace(program, profiles=profiles)


def check_program(source: Source, program: ast.Program) -> ir.Program:
    """Check a parsed spec; raise `UserError` with every diagnostic if anything is wrong."""
    result = Checker(source).check(program)
    assert result is not None
    return result
