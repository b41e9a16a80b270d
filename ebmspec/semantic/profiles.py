"""Check `profile NAME { key = value ... }` blocks against the settings the spec really has.

In: the profile AST blocks and the checked program. Out: `ir.Profile`s whose keys all exist
(E801 otherwise, with a suggestion) and whose values have the right type. The same key table
(`setting_keys`) validates `--set key=value` on the command line (`check_setting`);
`passes.profiles` applies both.
"""

from __future__ import annotations

from ebmspec import energy_facts, ir
from ebmspec.diagnostics import DiagnosticSink
from ebmspec.frontend import ast, parse_assignment
from ebmspec.semantic import registry as reg
from ebmspec.semantic.samplers import SamplerChecks, check_temperatures
from ebmspec.semantic.training import TrainingChecks
from ebmspec.semantic.values import INVALID, Scope, check_value, suggest
from ebmspec.source import Source

# `sampler.S.init.NAME = DIST(...)`: a whole init distribution, checked as the sampler block does.
INIT_SETTING = reg.Param("init", "init", None)


def block_for(sampler: ir.Sampler, variable: str) -> ir.Block | None:
    """The first block of `sampler` updating `variable`."""
    return next((b for b in sampler.blocks if variable in b.variables), None)


def setting_keys(program: ir.Program) -> dict[str, reg.Param]:
    """Every dotted key a profile or `--set` may assign, with its parameter type."""
    keys: dict[str, reg.Param] = {}
    if program.data is not None:
        signature = reg.DATASETS[program.data.source.name]
        keys.update({f"data.{p.name}": p for p in signature.params})
    if program.train is not None:
        keys.update(
            {
                f"train.{k}": p
                for k, p in reg.TRAIN_SETTINGS.items()
                if k not in ("objective", "optimizer")
            }
        )
        for part, table in (("objective", reg.OBJECTIVES), ("optimizer", reg.OPTIMIZERS)):
            call = getattr(program.train, part)
            keys[f"train.{part}"] = reg.TRAIN_SETTINGS[part]  # a whole new call
            keys.update({f"train.{part}.{p.name}": p for p in table[call.name].params})
    for sampler in program.samplers:
        keys[f"sampler.{sampler.name}.sweeps"] = reg.SAMPLER_SETTINGS["sweeps"]
        keys[f"sampler.{sampler.name}.temperatures"] = reg.SAMPLER_SETTINGS["temperatures"]
        for init in sampler.inits:
            for name in init.variables:
                keys[f"sampler.{sampler.name}.init.{name}"] = INIT_SETTING
        for variable in program.variables:
            block = block_for(sampler, variable.name)
            if block is not None:
                for p in reg.KERNELS[block.kernel.name].params:
                    keys[f"sampler.{sampler.name}.{variable.name}.{p.name}"] = p
    if program.evaluate is not None:
        for prediction in program.evaluate.predictions:
            for method in prediction.methods:
                for p in reg.PREDICT_METHODS[method.name].params:
                    keys[f"evaluate.{method.name}.{p.name}"] = p
        for report in program.evaluate.reports:
            for p in reg.REPORTS[report.kind][report.call.name].params:
                keys[f"evaluate.{report.call.name}.{p.name}"] = p
    return keys


def _unknown_key(sink: DiagnosticSink, keys: dict, key: str, span, noun: str, listed: str) -> None:
    """E801 with a did-you-mean and the valid keys of the same section."""
    nearby = sorted(k for k in keys if k.split(".")[0] == key.split(".")[0])[:6]
    sink.error(
        "E801",
        f"unknown {noun} `{key}`{suggest(key, keys)}",
        span,
        f"{listed} here include: " + ", ".join(nearby or sorted(keys)[:6]),
    )


def check_profiles(scope: Scope, program: ir.Program, blocks: list[ast.ProfileBlock]):
    keys = setting_keys(program)
    seen: dict[str, int] = {}
    profiles = []
    for block in blocks:
        name = block.name.text
        if name in seen:
            scope.sink.error(
                "E102",
                f"profile `{name}` is already declared at line {seen[name]}",
                block.name.span,
                "give each profile its own name",
            )
            continue
        seen[name] = block.span.line
        overrides, assigned = [], set()
        for assignment in block.assignments:
            key = assignment.key.text
            param = keys.get(key)
            if param is None:
                _unknown_key(scope.sink, keys, key, assignment.key.span, "profile key", "keys")
                continue
            if key in assigned:
                scope.sink.error(
                    "E106",
                    f"`{key}` is set twice in profile `{name}`",
                    assignment.key.span,
                    "keep one assignment",
                )
                continue
            assigned.add(key)
            value = _value(scope, key, param, assignment, program)
            if value is not INVALID:
                overrides.append(ir.Override(key, value, assignment.span))
        profiles.append(ir.Profile(name, tuple(overrides), block.span))
    return tuple(profiles)


def check_setting(program: ir.Program, source: Source) -> ir.Override:
    """Check one `--set key=value` against the program's keys; `UserError` located in its text."""
    assignment = parse_assignment(source)
    sink = DiagnosticSink(source)
    scope = Scope(
        sink, {v.name: v for v in program.variables}, {s.name: s.span for s in program.samplers}
    )
    scope.flow = energy_facts.flow_density(program.energy, program.variables)
    keys = setting_keys(program)
    key = assignment.key.text
    param = keys.get(key)
    if param is None:
        _unknown_key(sink, keys, key, assignment.key.span, "setting", "settings")
        sink.raise_if_any()
    value = _value(scope, key, param, assignment, program)
    sink.raise_if_any()
    return ir.Override(key, value, assignment.span)


def _value(scope: Scope, key: str, param: reg.Param, assignment: ast.Assignment, program):
    """The checked value of one assignment: a whole objective or optimizer call is checked as
    the train block checks it (its sampler defaults to the replaced objective's), an init
    distribution as the sampler block checks it, anything else by its parameter type."""
    if key in ("train.objective", "train.optimizer"):
        checks = TrainingChecks()
        checks.sink, checks.scope = scope.sink, scope
        if program.train is not None:
            checks.replaced_sampler = dict(program.train.objective.args).get("sampler")
        call = checks.check_training_call(assignment.value, key.split(".")[1])
        return INVALID if call is None else call
    if param is INIT_SETTING:
        samplers = SamplerChecks()
        samplers.sink, samplers.scope = scope.sink, scope
        call = samplers.check_init_setting(assignment.value, key.split(".")[3], program.data)
        return INVALID if call is None else call
    value = check_value(param.type, assignment.value, scope, f"`{key}`", param)
    if (
        key.endswith(".temperatures")
        and value is not INVALID
        and not check_temperatures(scope.sink, value, assignment.value.span)
    ):
        return INVALID
    return value
