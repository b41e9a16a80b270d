"""Apply a profile (or `--set` overrides) to a checked program.

In: an `ir.Program` and a profile name or a list of `ir.Override`s whose keys were validated by
`semantic.profiles.setting_keys`. Out: a new program with those settings replaced.
"""

from __future__ import annotations

from dataclasses import replace

from ebmspec import ir
from ebmspec.semantic.profiles import block_for


def _set(settings: tuple, key: str, value) -> tuple:
    return tuple((k, value if k == key else v) for k, v in settings)


def _replace_init(inits: tuple, name: str, dist: ir.Call) -> tuple:
    """`name` gets its own init with `dist`; the variables it shared an init with keep theirs."""
    result = []
    for init in inits:
        if name in init.variables:
            others = tuple(v for v in init.variables if v != name)
            if others:
                result.append(replace(init, variables=others))
            result.append(ir.Init((name,), dist, False, init.span))
        else:
            result.append(init)
    return tuple(result)


def _apply_one(program: ir.Program, override: ir.Override) -> ir.Program:
    parts = override.key.split(".")
    value = override.value
    head = parts[0]
    if head == "data":
        data = program.data
        return replace(program, data=replace(data, source=data.source.with_arg(parts[1], value)))
    if head == "train":
        train = program.train
        if len(parts) == 2 and parts[1] in ("objective", "optimizer"):
            return replace(program, train=replace(train, **{parts[1]: value}))
        if len(parts) == 3:
            call = getattr(train, parts[1]).with_arg(parts[2], value)
            return replace(program, train=replace(train, **{parts[1]: call}))
        return replace(
            program, train=replace(train, settings=_set(train.settings, parts[1], value))
        )
    if head == "sampler":
        samplers = []
        for sampler in program.samplers:
            if sampler.name == parts[1]:
                if parts[2] == "sweeps":
                    sampler = replace(sampler, sweeps=value)
                elif parts[2] == "temperatures":
                    sampler = replace(sampler, temperatures=tuple(float(t) for t in value))
                elif parts[2] == "init":
                    sampler = replace(sampler, inits=_replace_init(sampler.inits, parts[3], value))
                else:
                    target = block_for(sampler, parts[2])
                    blocks = tuple(
                        replace(b, kernel=b.kernel.with_arg(parts[3], value)) if b is target else b
                        for b in sampler.blocks
                    )
                    sampler = replace(sampler, blocks=blocks)
            samplers.append(sampler)
        return replace(program, samplers=tuple(samplers))
    if head == "evaluate":
        evaluate = program.evaluate

        def update(call: ir.Call) -> ir.Call:
            return call.with_arg(parts[2], value) if call.name == parts[1] else call

        predictions = tuple(
            replace(p, methods=tuple(update(m) for m in p.methods)) for p in evaluate.predictions
        )
        reports = tuple(replace(r, call=update(r.call)) for r in evaluate.reports)
        return replace(
            program, evaluate=replace(evaluate, predictions=predictions, reports=reports)
        )
    raise AssertionError(f"unvalidated override key {override.key!r}")


def apply_overrides(program: ir.Program, overrides) -> ir.Program:
    for override in overrides:
        program = _apply_one(program, override)
    return program


def apply_profile(program: ir.Program, name: str) -> ir.Program:
    """The program with profile `name` applied (KeyError if there is no such profile)."""
    profile = next(p for p in program.profiles if p.name == name)
    return apply_overrides(program, profile.overrides)
