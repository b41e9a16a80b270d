"""Predictions of a joint EBM's discrete variables from the others, by energy and by samples.

In: a checked program, its energy module and the given variables in model space (`{name: [N,
...]}` on the model's device). Out: energy-based predictions (f at every joint value of the
targets, the discrete variables neither given nor predicted summed out; docs/design/ALGORITHMS.md
2.6) with their marginals, and sample-based ones (each example's chains with the given variables
clamped; the share of chains at each value) with their frequencies. `evaluate`, `generation`, the
pictures and the benches predict through here; `report` finds a report line of the spec.
"""

from __future__ import annotations

import math
from typing import NamedTuple

import torch

from ebmspec import ir
from ebmspec.runtime.data.encoding import labels_of
from ebmspec.runtime.model.energy import variable_table
from ebmspec.runtime.model.enumeration import configurations
from ebmspec.runtime.model.ops import probabilities_of_codes
from ebmspec.runtime.sampling import sampler as sampling
from ebmspec.runtime.seeding import stream_seed

MAX_CONFIGURATIONS = 65_536  # dSprites has 256; beyond this enumeration is not the way
ENERGY_ROWS = 8192  # (example, configuration) rows per energy evaluation
SAMPLE_CHAINS = 2500  # chains per sampling run (examples x chains per example)


class Configurations(NamedTuple):
    """Every joint value of some discrete variables, in lexicographic order: the last element
    of the last variable varies fastest (dSprites: configuration c is x_pos = c // 16,
    y_pos = c % 16; `categorical(2)[3]`: 000, 001, 010, ..., 111).

    values: name -> [C, *tensor_shape] as the model sees them (one-hot / 0-1 floats).
    labels: name -> int64 [C, *shape], the value of every element.
    """

    values: dict
    labels: dict

    @property
    def count(self) -> int:
        return next(iter(self.labels.values())).shape[0] if self.labels else 1


def label_configurations(program: ir.Program, targets) -> Configurations:
    """All C joint configurations of the discrete variables `targets` (see `Configurations`)."""
    variables = [program.variable(name) for name in targets]
    for variable in variables:
        if not variable.discrete:
            raise ValueError(f"cannot enumerate the values of real variable {variable.name!r}")
    count = math.prod(v.cardinality for v in variables)
    if count > MAX_CONFIGURATIONS:
        names = ", ".join(v.name for v in variables)
        raise ValueError(f"{names} have {count} joint values, more than {MAX_CONFIGURATIONS}")
    table = variable_table(program)
    values = configurations(table, [v.name for v in variables])
    labels = labels_of(table, values)
    return Configurations(values, labels)


def energy_table(model, given: dict, configurations: dict, count: int) -> torch.Tensor:
    """f(x_n, configuration c) as [n, C]: the given part is specialised once (features such as
    dSprites' h(x) computed once per example) and tiled over the configurations, copy-major."""
    n = next(iter(given.values())).shape[0]
    device = next(iter(given.values())).device
    configs = {k: v.to(device).repeat_interleave(n, 0) for k, v in configurations.items()}
    if hasattr(model, "specialize"):
        f = model.specialize(given, fold=True).tile(count)(configs)
    else:
        tiled = {k: v.repeat(count, *([1] * (v.dim() - 1))) for k, v in given.items()}
        f = model({**tiled, **configs})
    return f.reshape(count, n).t()


def hidden_variables(program: ir.Program, given, targets) -> list[str]:
    """The variables neither given nor predicted: discrete ones are summed out."""
    hidden = [v for v in program.variables if v.name not in (*given, *targets)]
    for variable in hidden:
        if not variable.discrete:
            raise ValueError(
                f"energy-based prediction sums out {variable.name!r}, but it is real: "
                "give it or predict by samples"
            )
    return [v.name for v in hidden]


@torch.no_grad()
def predict_energy(model, program: ir.Program, given: dict, targets, batch: int = ENERGY_ROWS):
    """Energy-based prediction of `targets` from `given` ({name: [N, ...]} model space, on the
    model's device). p(y | x) = softmax over all configurations of f(x, y) (discrete variables
    neither given nor predicted summed out). Returns (pred, marginals): pred[name] int64
    [N, *shape], the argmax configuration; marginals[name] [N, *shape, K] = p(y_i = k | x)."""
    targets = tuple(targets)
    hidden = hidden_variables(program, given, targets)
    configs = label_configurations(program, targets + tuple(hidden))
    count = configs.count
    spread = math.prod(program.variable(n).cardinality for n in hidden)  # per target config
    first = {name: labels[::spread] for name, labels in configs.labels.items() if name in targets}
    total = next(iter(given.values())).shape[0]
    per = max(1, batch // count)
    best, probs = [], []
    for start in range(0, total, per):
        part = {name: value[start : start + per] for name, value in given.items()}
        f = energy_table(model, part, configs.values, count)
        log_joint = f.float().reshape(f.shape[0], count // spread, spread).logsumexp(-1)
        best.append(log_joint.argmax(-1).cpu())
        probs.append(log_joint.softmax(-1).cpu())
    best, probs = torch.cat(best), torch.cat(probs)
    pred = {name: first[name][best] for name in targets}
    marginals = {}
    for name in targets:
        hot = probabilities_of_codes(
            first[name], program.variable(name).categories or 2
        )  # [T, *shape, K]
        marginals[name] = (probs @ hot.reshape(hot.shape[0], -1)).reshape(total, *hot.shape[1:])
    return pred, marginals


def predict_samples(
    model,
    program: ir.Program,
    given: dict,
    targets,
    chains: int = 10,
    steps: int = 200,
    sampler: str | None = None,
    stats: dict | None = None,
    seed: int = 0,
    device="cpu",
    batch: int = SAMPLE_CHAINS,
    progress=None,
    specialize: bool = True,
    first_run: int = 0,
):
    """Sample-based prediction: each example's `chains` chains run `steps` sweeps of `sampler`
    with the given variables clamped (so only the other blocks run), the targets starting from
    the sampler's init distribution. Returns (pred, frequencies): frequencies[name]
    [N, *shape, K] = share of chains ending at each value, pred = its argmax (ties: lowest).
    Runs of `batch` chains; run i draws from stream ("predict_samples", first_run + i) of
    `seed` (a process of a sharded evaluation starts at its first chunk's run).
    `progress(done, total)` after each run."""
    targets = tuple(targets)
    total = next(iter(given.values())).shape[0]
    per = max(1, batch // chains)
    frequencies: dict = {name: [] for name in targets}
    for run, start in enumerate(range(0, total, per)):
        part = {n: v[start : start + per].to(device) for n, v in given.items()}
        count = next(iter(part.values())).shape[0]
        condition = {n: v.repeat_interleave(chains, 0) for n, v in part.items()}
        energy = model
        if specialize and hasattr(model, "specialize"):
            energy = model.specialize(condition, fold=True)
        state, _ = sampling.sample(
            program,
            energy,
            count * chains,
            sweeps=steps,
            seed=stream_seed(seed, "predict_samples", first_run + run),
            condition=condition,
            sampler=sampler,
            stats=stats,
            device=device,
            specialize=specialize,
        )
        for name in targets:
            variable, value = program.variable(name), state.point.values[name].detach()
            hot = value if variable.kind == "categorical" else probabilities_of_codes(value, 2)
            share = hot.reshape(count, chains, *hot.shape[1:]).mean(1)
            frequencies[name].append(share.cpu())
        if progress is not None:
            progress(min(start + per, total), total)
    frequencies = {name: torch.cat(parts) for name, parts in frequencies.items()}
    return {name: f.argmax(-1) for name, f in frequencies.items()}, frequencies


def report(program: ir.Program, kind: str, name: str | None = None) -> ir.Call | None:
    """The call of the spec's first `kind` report line (named `name` when given), or None."""
    reports = program.evaluate.reports if program.evaluate is not None else ()
    return next((r.call for r in reports if r.kind == kind and name in (None, r.call.name)), None)
