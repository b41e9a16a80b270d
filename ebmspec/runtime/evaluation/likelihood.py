"""`likelihood ais(...)`: log Z and the test log-likelihood of any spec (evaluation/ais.py).

In: a checked program, its energy module, the test split in model space, the data statistics,
the AIS arguments (the evaluate block's `likelihood ais(...)` line, or `ebmspec eval --ais`'s) and
a seed. Out: the `ais` entry of the evaluation result: log Z forward (a stochastic lower bound)
and reverse (from the test data, with latent variables imputed by the sampler on p(h | x); an
upper bound when the data are the model's draws), each with its standard error over the runs;
the test log-likelihood each implies, where the observed variables' log p~ can be computed (f,
or the free energy of latents that can be summed exactly); and the exact log Z beside them when
there is one (an enumerable model, or 0 for a normalised flow) - the check a user can run on a
small model before trusting AIS on a large one.
"""

from __future__ import annotations

import math
import time

import torch

from ebmspec import energy_facts, ir
from ebmspec.diagnostics import argument_error
from ebmspec.runtime.evaluation.ais import ais_log_z
from ebmspec.runtime.evaluation.predict import ENERGY_ROWS, report
from ebmspec.runtime.model.energy import variable_table
from ebmspec.runtime.model.enumeration import configurations, free_energy
from ebmspec.runtime.sampling.base_density import Base
from ebmspec.runtime.sampling.sampler import default_sampler, sampler_table
from ebmspec.runtime.seeding import stream
from ebmspec.runtime.training.negatives import impute
from ebmspec.semantic.registry import MAX_ENUMERABLE, REPORTS

SIGNATURE = REPORTS["likelihood"]["ais"]


def ais_settings(program: ir.Program, option: str | None) -> dict | None:
    """The AIS arguments: the spec's `likelihood ais(...)` line (defaults filled in), updated by
    `option` (`ebmspec eval --ais`: "" for the defaults, or "temperatures=500,runs=5,..."); None
    when neither asks for AIS. A bad key or value is a located user error (E941)."""
    call = report(program, "likelihood", "ais")
    if call is None and option is None:
        return None
    args = {p.name: p.default for p in SIGNATURE.params}
    if call is not None:
        args.update(dict(call.args))
    text = option or ""
    at = 0
    for item in text.split(","):
        start, at = at, at + len(item) + 1
        if not item.strip():
            continue
        key, equals, value = item.partition("=")
        param = SIGNATURE.param(key.strip())
        keys = ", ".join(p.name for p in SIGNATURE.params)
        if param is None or not equals:
            what = f"unknown AIS setting `{key.strip()}`" if equals else f"`{item}` has no value"
            raise _error(text, what, start, start + len(key), f"write KEY=VALUE, KEY one of {keys}")
        args[param.name] = _value(param.type, value.strip(), program, text,
                                  start + len(key) + 1, start + len(item))  # fmt: skip
    return args


def _error(text: str, message: str, start: int, end: int, help: str):
    return argument_error("--ais", text, "E941", message, start, max(end, start + 1), help)


def _value(kind: str, value: str, program: ir.Program, text: str, start: int, end: int):
    if kind == "posint":
        if not value.isdigit() or int(value) < 1:
            raise _error(text, f"`{value}` is not a positive integer", start, end, "e.g. runs=10")
        return int(value)
    if kind == "bool":
        if value.lower() not in ("true", "false"):
            raise _error(text, f"`{value}` is not true or false", start, end, "e.g. reverse=false")
        return value.lower() == "true"
    names = [s.name for s in program.samplers]
    if value not in names:
        raise _error(text, f"unknown sampler `{value}`", start, end,
                     f"the samplers of `{program.name}` are: {', '.join(names)}")  # fmt: skip
    return value


@torch.no_grad()
def observed_term(model, program: ir.Program, split: dict, limit, device) -> dict | None:
    """The mean over the split (its first `limit` examples) of log p~ of the observed variables:
    f, or with latent variables that can be summed exactly the free energy log sum_h exp f(x, h);
    None when the split lacks an observed variable or the latents cannot be summed.
    {"mean", "count", "of"}."""
    observed = [v for v in program.variables if v.observed]
    hidden = [v for v in program.variables if not v.observed]
    latents = [v.name for v in hidden]
    if not observed or any(v.name not in split for v in observed):
        return None
    cost = energy_facts.exact_sum_cost(program.energy, hidden) if hidden else None
    if hidden and (cost is None or cost > MAX_ENUMERABLE):
        return None
    table = variable_table(program)
    separable = bool(latents) and energy_facts.separable(program.energy, latents)
    count = split[observed[0].name].shape[0]
    count = count if limit is None else min(limit, count)
    total_f = 0.0
    for start in range(0, count, ENERGY_ROWS):
        rows = {v.name: split[v.name][start : start + ENERGY_ROWS][: count - start].to(device)
                for v in observed}  # fmt: skip
        f = (
            free_energy(model, rows, table, (), latents, separable)[:, 0]
            if latents
            else model(rows)
        )
        total_f += float(f.double().sum())
    return {
        "mean": total_f / max(count, 1),
        "count": count,
        "of": ", ".join(v.name for v in observed),
        "sites": sum(v.sites for v in observed),
    }


def exact_log_z(model, program: ir.Program, device) -> float | None:
    """log Z over every joint value when every variable is discrete and they number at most
    MAX_ENUMERABLE; else None."""
    if not all(v.discrete for v in program.variables):
        return None
    if math.prod(v.cardinality for v in program.variables) > MAX_ENUMERABLE:
        return None
    table = variable_table(program)
    every = configurations(table, [v.name for v in program.variables], device)
    with torch.no_grad():
        return float(torch.logsumexp(model(every).double(), 0))


def ais_report(
    program: ir.Program,
    model,
    split: dict,
    stats: dict | None,
    args: dict,
    device="cpu",
    seed: int = 0,
    limit: int | None = None,
    progress=None,
) -> dict:
    """The `ais` entry of an evaluation (see the module docstring)."""
    start = time.perf_counter()
    table = variable_table(program)
    name = args.get("sampler") or default_sampler(program)
    sampler = sampler_table(program.sampler(name))
    base = Base(sampler["inits"], table, stats)
    runs, chains = int(args["runs"]), int(args["chains"])
    generator = stream(seed, "ais", device=device)
    observed = [v.name for v in program.variables if v.observed]
    start_values = None
    if args["reverse"] and observed and all(n in split for n in observed):
        count = next(iter(split[n] for n in observed)).shape[0]
        count = min(count, runs * chains) if limit is None else min(count, limit, runs * chains)
        values = {n: split[n][:count].to(device) for n in observed}
        # Latent variables: one draw of the sampler's chain on p(h | x), x clamped.
        steps = sampler["sweeps"] or 100
        start_values = impute(model, sampler, table, values, {}, steps, generator, stats)
    found = ais_log_z(
        model, table, sampler, base, int(args["temperatures"]), runs, chains, generator,
        device, stats, start_values, progress,
    )  # fmt: skip
    forward, reverse = found["forward"], found["reverse"]
    entry = {
        "sampler": name,
        "temperatures": int(args["temperatures"]),
        "runs": runs,
        "chains": chains,
        "log_z": forward.log_z,
        "log_z_stderr": forward.stderr,
        "log_z_runs": forward.per_run,
        "effective_sample_size": forward.ess,
    }
    if reverse is not None:
        entry.update(
            log_z_reverse=reverse.log_z,
            log_z_reverse_stderr=reverse.stderr,
            reverse_chains=reverse.chains,
        )
    exact = exact_log_z(model, program, device)
    if exact is None and energy_facts.flow_density(program.energy, program.variables):
        exact = 0.0  # f = log p(x) exactly
    if exact is not None:
        entry["exact_log_z"] = exact
    term = observed_term(model, program, split, limit, device)
    if term is not None:
        entry["test_log_likelihood_of"] = term["of"]
        entry["test_log_likelihood_examples"] = term["count"]
        # A lower bound on log Z gives an upper estimate of the likelihood, and the other way.
        entry["test_log_likelihood"] = term["mean"] - forward.log_z
        if reverse is not None:
            entry["test_log_likelihood_reverse"] = term["mean"] - reverse.log_z
    entry["seconds"] = time.perf_counter() - start
    return entry
