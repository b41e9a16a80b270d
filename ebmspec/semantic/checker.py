"""Check a whole spec: AST in, `ir.Program` out, all errors collected and raised once.

In: `ast.Program` and its `Source`. Out: a frozen `ir.Program`, or `UserError` with every
diagnostic found (names, types, domains, shapes, sampler/domain compatibility, data fields,
objectives, evaluation and profile keys). The work is split by block: variables here,
`semantic.data`, `semantic.energy` (+ `semantic.shapes`), `semantic.samplers`,
`semantic.training` and `semantic.profiles`; sampler defaults are filled in by `passes.defaults`.
"""

from __future__ import annotations

from ebmspec import energy_facts, ir
from ebmspec.diagnostics import DiagnosticSink
from ebmspec.frontend import ast
from ebmspec.semantic.data import check_data
from ebmspec.semantic.energy import EnergyChecker
from ebmspec.semantic.evaluation import EvaluationChecks
from ebmspec.semantic.params import check_params
from ebmspec.semantic.profiles import check_profiles
from ebmspec.semantic.registry import DATASETS, require_declared
from ebmspec.semantic.samplers import SamplerChecks
from ebmspec.semantic.training import TrainingChecks
from ebmspec.semantic.values import Scope, fold_number
from ebmspec.source import Source

_BLOCK_KEYWORDS = {
    ast.DataDecl: "data",
    ast.VariablesBlock: "variables",
    ast.ParamsBlock: "params",
    ast.EnergyBlock: "energy",
    ast.TrainBlock: "train",
    ast.EvaluateBlock: "evaluate",
}


class Checker(SamplerChecks, TrainingChecks, EvaluationChecks):
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
        params = check_params(self.scope, singles.get("params"))
        self.scope.params = {p.name: p for p in params}
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
        self.scope.broken_data = data is None and "data" in singles
        self.scope.drawn_data = data is not None and DATASETS[data.source.name].extra.get(
            "drawn", False
        )
        energy_block = singles.get("energy")
        energy = EnergyChecker(self.scope).check(energy_block) if energy_block else None
        self.scope.flow = energy_facts.flow_density(energy, variables)
        self.scope.energy = energy
        sampler_irs = tuple(self._sampler(block, data) for block in samplers)
        train = self._train(singles.get("train"), data)
        self._fixed_training_steps(train, sampler_irs)
        evaluate = self._evaluate(singles.get("evaluate"), data)
        needs_data = any(v.observed for v in variables) and not self.scope.broken_data
        if train is not None and data is None and needs_data:
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
            params=tuple(self.scope.params.values()),  # declared, then the energy's literals
        )
        result = _replace_profiles(result, check_profiles(self.scope, result, profiles))
        self.sink.raise_if_any()
        return result

    def _fixed_training_steps(self, train: ir.Train | None, samplers) -> None:
        """E507: step adaptation (`adapt = n`) in the sampler that training runs. Training chains
        restart from the replay buffer every iteration, and the checkpoint keeps no tuning
        state, so an adapting step would re-tune every iteration and break exact resumption."""
        name = dict(train.objective.args).get("sampler") if train is not None else None
        for sampler in samplers:
            if sampler is None or sampler.name != name:
                continue
            for block in sampler.blocks:
                if dict(block.kernel.args).get("adapt"):
                    self.sink.error(
                        "E507",
                        f"`{block.kernel.name}(adapt = ...)` in sampler `{name}`, which "
                        "training runs: training chains restart every iteration, so the step "
                        "would be re-tuned each time",
                        block.kernel.span,
                        "give training's sampler a fixed step, and use `adapt` in a second "
                        "sampler for `ebmspec sample --sampler NAME`",
                    )

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


def _replace_profiles(program: ir.Program, profiles: tuple[ir.Profile, ...]) -> ir.Program:
    from dataclasses import replace

    return replace(program, profiles=profiles)


def check_program(source: Source, program: ast.Program) -> ir.Program:
    """Check a parsed spec; raise `UserError` with every diagnostic if anything is wrong."""
    require_declared()
    result = Checker(source).check(program)
    assert result is not None
    return result
