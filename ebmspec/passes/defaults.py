"""Fill in the sampler defaults a spec leaves out.

In: a checked `ir.Program`. Out: the same program where every sampler initialises and updates
every variable. Missing inits: observed real -> uniform_data_range, bounded latent real -> uniform,
other real -> normal, discrete -> uniform. Variables no block updates get `gwg` (discrete, one joint
block placed first) and `mala(step = 0.01)` (real, placed last) - the discrete-then-continuous order
of paper 004, Algorithm 1. A spec without any sampler gets one named `default`. Added items are
marked `default=True` so dumps and summaries can say so. Evaluation methods and reports that name
no sampler get the one training uses (or the first declared).
"""

from __future__ import annotations

from dataclasses import replace

from ebmspec import ir
from ebmspec.semantic import registry as reg


def _default_call(name: str, overrides: dict, span) -> ir.Call:
    signature = {**reg.KERNELS, **reg.INIT_DISTS}[name]
    args = tuple((p.name, overrides.get(p.name, p.default)) for p in signature.params)
    return ir.Call(name, args, span)


def _default_init(variable: ir.Variable, has_data: bool) -> str:
    if variable.discrete:
        return "uniform"
    if variable.observed and has_data:
        return "uniform_data_range"
    return "uniform" if variable.low is not None else "normal"


def _complete(sampler: ir.Sampler, program: ir.Program) -> ir.Sampler:
    span = sampler.span
    has_data = program.data is not None
    initialised = {name for init in sampler.inits for name in init.variables}
    inits = list(sampler.inits)
    for variable in program.variables:
        if variable.name not in initialised:
            dist = _default_call(_default_init(variable, has_data), {}, span)
            inits.append(ir.Init((variable.name,), dist, True, span))
    updated = {name for block in sampler.blocks for name in block.variables}
    missing = [v for v in program.variables if v.name not in updated]
    discrete = tuple(v.name for v in missing if v.discrete)
    continuous = [v for v in missing if not v.discrete]
    blocks = list(sampler.blocks)
    if discrete:
        kernel, overrides = reg.DEFAULT_KERNEL["discrete"]
        blocks.insert(0, ir.Block(_default_call(kernel, overrides, span), discrete, 1, True, span))
    for variable in continuous:
        kernel, overrides = reg.DEFAULT_KERNEL["real"]
        call = _default_call(kernel, overrides, span)
        blocks.append(ir.Block(call, (variable.name,), 1, True, span))
    return replace(sampler, inits=tuple(inits), blocks=tuple(blocks))


def _resolve_sampler(call: ir.Call, name: str) -> ir.Call:
    """`sampler = None` in an evaluation method or report means the training sampler."""
    args = dict(call.args)
    return call.with_arg("sampler", name) if "sampler" in args and args["sampler"] is None else call


def fill_sampler_defaults(program: ir.Program) -> ir.Program:
    samplers = program.samplers or (ir.Sampler("default", (), (), 1, program.span),)
    program = replace(program, samplers=tuple(_complete(s, program) for s in samplers))
    if program.evaluate is None:
        return program
    # Evaluation samples with the sampler training uses, else the first one declared.
    objective = program.train.objective if program.train is not None else None
    name = dict(objective.args).get("sampler") if objective is not None else None
    name = name or program.samplers[0].name
    evaluate = program.evaluate
    predictions = tuple(
        replace(p, methods=tuple(_resolve_sampler(m, name) for m in p.methods))
        for p in evaluate.predictions
    )
    reports = tuple(replace(r, call=_resolve_sampler(r.call, name)) for r in evaluate.reports)
    return replace(program, evaluate=replace(evaluate, predictions=predictions, reports=reports))
