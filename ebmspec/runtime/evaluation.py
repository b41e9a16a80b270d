"""Evaluation of a joint EBM: the `evaluate` block of a spec, run on a test split.

In: a checked program, its energy module, a test split in model space (`{name: [N, ...]}`, reals
transformed, categoricals one-hot, plus `labels`: `{name: int64 [N, *shape]}`, -1 = missing) and
the data statistics the samplers' init distributions read. Out: energy-based predictions (f at
every label configuration, docs/design/ALGORITHMS.md 2.6), sample-based ones (majority vote of
chains with the inputs clamped), per-attribute accuracy and top-label ECE (equal-width bins, a
confidence of exactly 1.0 in the last one: 2.9, 3.4). The report pictures are `pictures`'.
"""

from __future__ import annotations

import math
import time
from typing import NamedTuple

import torch
import torch.nn.functional as F

from ebmspec import ir
from ebmspec.runtime import distributed, sampling
from ebmspec.runtime.batches import labels_of
from ebmspec.runtime.energy import variable_table
from ebmspec.runtime.generation import generation
from ebmspec.runtime.labels import configurations
from ebmspec.runtime.ood import ood_report
from ebmspec.runtime.scoring import accuracy, ece
from ebmspec.runtime.streams import stream_seed

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


def _one_hot(variable: ir.Variable, code: torch.Tensor) -> torch.Tensor:
    return F.one_hot(code.long(), variable.categories or 2).float()


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
        hot = _one_hot(program.variable(name), first[name])  # [T, *shape, K]
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
            hot = value if variable.kind == "categorical" else _one_hot(variable, value)
            share = hot.reshape(count, chains, *hot.shape[1:]).mean(1)
            frequencies[name].append(share.cpu())
        if progress is not None:
            progress(min(start + per, total), total)
    frequencies = {name: torch.cat(parts) for name, parts in frequencies.items()}
    return {name: f.argmax(-1) for name, f in frequencies.items()}, frequencies


def _calibrate(entry: dict, calibration: dict, source: str) -> None:
    """A prediction entry's calibration numbers, from probabilities of `source`."""
    for key in ("ece", "mce", "oce", "ece_all_classes", "reliability"):
        entry[key] = calibration[key]
    entry["ece_macro"] = calibration["macro"]
    entry["ece_from"] = source
    entry["per_attribute"]["ece"] = calibration["per_attribute"]


def _report(program: ir.Program, kind: str) -> ir.Call | None:
    reports = program.evaluate.reports if program.evaluate is not None else ()
    return next((r.call for r in reports if r.kind == kind), None)


def test_log_likelihood(model, program: ir.Program, split: dict, limit, device) -> dict:
    """Exact mean log p(x) over the split (its first `limit` examples) of a normalised flow
    energy (log p(x | y) of a class-conditional one, at the test labels), in nats per example of
    the model's (transformed) space, and per dimension of the real variables."""
    names = [v.name for v in program.variables]
    count = split[names[0]].shape[0] if limit is None else min(limit, split[names[0]].shape[0])
    total = 0.0
    with torch.no_grad():
        for start in range(0, count, ENERGY_ROWS):
            rows = {
                n: split[n][start : start + ENERGY_ROWS][: count - start].to(device) for n in names
            }
            total += float(model(rows).double().sum())
    dims = sum(math.prod(v.shape) for v in program.variables if not v.discrete)
    mean = total / max(count, 1)
    given = [v.name for v in program.variables if v.discrete]
    return {
        "test_log_likelihood_of": "x" if not given else f"x | {', '.join(given)}",
        "test_log_likelihood": mean,
        "test_log_likelihood_per_dim": mean / dims,
        "test_log_likelihood_examples": count,
    }


def evaluate(
    program: ir.Program,
    model,
    split: dict,
    stats: dict | None = None,
    device="cpu",
    seed: int = 0,
    limit: int | None = None,
    progress=None,
    ood_scores: dict | None = None,
    ranks: distributed.Ranks | None = None,
) -> dict | None:
    """Every `predict` line of the spec's evaluate block on `split` (the first `limit` examples).
    `ood_scores` (a dict), if given, receives the OOD scores for the histograms.
    Per line: `accuracy_energy` / `ece` (from p(y | x) by enumeration) with the `energy` method,
    `accuracy_samples` with `samples` (and `ece` from the chains' frequencies when there is no
    `energy` method; `ece_from` says which), `per_attribute`, `seconds`. The top level is the
    first line's dict plus `predictions` (all lines); `progress(done, total)` counts examples
    over all lines and methods.
    `ranks` (several processes of one training job): every process predicts its share of the
    examples, in whole chunks of the sample-based runs so each chunk draws the random numbers it
    draws in one process; rank 0 gathers them and computes the metrics, the OOD, likelihood and
    generation reports alone, and returns the result; the other processes return None."""
    ranks = ranks or distributed.Ranks()
    lines = program.evaluate.predictions if program.evaluate is not None else ()
    call = _report(program, "calibration")
    bins = int(call.arg("bins")) if call is not None else 20
    work = [(line, method) for line in lines for method in line.methods]
    examples = next(iter(split["labels"].values())).shape[0] if split.get("labels") else 0
    examples = examples if limit is None else min(limit, examples)
    if lines and not examples:
        raise ValueError("the split has no labelled examples to evaluate on")
    state = {"done": 0, "total": examples * len(work)}

    def advance(done: int, _total: int) -> None:
        if progress is not None:
            progress(state["done"] + done, state["total"])

    entries = []
    for line in lines:
        given = {n: split[n][:examples].to(device) for n in line.given}
        labels = {n: split["labels"][n][:examples].cpu() for n in line.targets}
        entry: dict = {"targets": list(line.targets), "given": list(line.given)}
        entry.update({"examples": examples, "bins": bins, "per_attribute": {}, "seconds": {}})
        for method in line.methods:
            start = time.perf_counter()
            args = dict(method.args)
            # Sample-based runs split in whole runs (their random streams), energies per row.
            unit = SAMPLE_CHAINS // int(args["chains"]) if "chains" in args else 1
            first, last = distributed.rows(examples, max(1, unit), ranks)
            mine = {n: v[first:last] for n, v in given.items()} if last > first else None
            if method.name == "energy":
                pred = marginals = None
                if mine is not None:
                    pred, marginals = predict_energy(model, program, mine, line.targets)
                pred, marginals = (distributed.gather_rows(d, ranks) for d in (pred, marginals))
                _calibrate(entry, ece(marginals, labels, bins), "energy")
            else:
                pred = frequencies = None
                if mine is not None:
                    pred, frequencies = predict_samples(
                        model, program, mine, line.targets, chains=int(args["chains"]),
                        steps=int(args["steps"]), sampler=args.get("sampler"), stats=stats,
                        seed=seed, device=device, progress=advance, first_run=first // unit,
                    )  # fmt: skip
                pred = distributed.gather_rows(pred, ranks)
                frequencies = distributed.gather_rows(frequencies, ranks)
                if "ece" not in entry:  # energy-based probabilities, when there are, come first
                    _calibrate(entry, ece(frequencies, labels, bins), "samples")
            scores = accuracy(pred, labels)
            entry[f"accuracy_{method.name}"] = scores["mean"]
            entry["per_attribute"][f"accuracy_{method.name}"] = scores["per_attribute"]
            entry["seconds"][method.name] = time.perf_counter() - start
            state["done"] += examples
            advance(0, state["total"])
        entries.append(entry)
    if not ranks.lead:
        return None
    result = dict(entries[0]) if entries else {"examples": examples}
    result["predictions"] = entries
    if ir.flow_density(program.energy, program.variables):
        result.update(test_log_likelihood(model, program, split, limit, device))
    ood = ood_report(model, program, split, limit, device, seed, ood_scores)
    if ood:
        result["ood"] = ood
    start = time.perf_counter()
    quality = generation(program, model, split, stats, device, stream_seed(seed, "generation"))
    if quality:
        result.update(quality)
        result.setdefault("seconds", {})["generation"] = time.perf_counter() - start
    return result
