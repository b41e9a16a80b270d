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

import torch

from ebmspec import energy_facts, ir
from ebmspec.runtime.evaluation.generation import generation
from ebmspec.runtime.evaluation.likelihood import ais_report, exact_log_z, observed_term
from ebmspec.runtime.evaluation.metrics import accuracy, ece
from ebmspec.runtime.evaluation.ood import ood_report
from ebmspec.runtime.evaluation.predict import (
    ENERGY_ROWS,
    SAMPLE_CHAINS,
    predict_energy,
    predict_samples,
    report,
)
from ebmspec.runtime.seeding import stream_seed
from ebmspec.runtime.training import distributed


def _calibrate(entry: dict, calibration: dict, source: str) -> None:
    """A prediction entry's calibration numbers, from probabilities of `source`."""
    for key in ("ece", "mce", "oce", "ece_all_classes", "reliability"):
        entry[key] = calibration[key]
    entry["ece_macro"] = calibration["macro"]
    entry["ece_from"] = source
    entry["per_attribute"]["ece"] = calibration["per_attribute"]


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


def test_data_term(model, program: ir.Program, split: dict, limit, device) -> dict:
    """What the test split says about p(observed) without a flow: the exact mean log p of the
    observed variables (latents summed out, log Z over every joint value) when every variable
    is discrete with at most MAX_ENUMERABLE joint values; else, with latent variables that can
    be summed exactly, the mean free energy log sum_h exp f(x, h) (unnormalised: comparable
    between checkpoints of one model); else nothing."""
    term = observed_term(model, program, split, limit, device)
    if term is None:
        return {}
    log_z = exact_log_z(model, program, device)
    if log_z is not None:
        mean = term["mean"] - log_z
        return {
            "test_log_likelihood_of": term["of"],
            "test_log_likelihood": mean,
            "test_log_likelihood_per_dim": mean / term["sites"],
            "test_log_likelihood_examples": term["count"],
        }
    if not any(not v.observed for v in program.variables):
        return {}
    return {"test_free_energy": term["mean"], "test_free_energy_examples": term["count"]}


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
    ais: dict | None = None,
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
    generation reports alone, and returns the result; the other processes return None.
    `ais`: the AIS arguments (`likelihood.ais_settings`), for an `ais` entry: log Z and the test
    log-likelihood by annealed importance sampling, beside the exact values where there are."""
    ranks = ranks or distributed.Ranks()
    lines = program.evaluate.predictions if program.evaluate is not None else ()
    call = report(program, "calibration")
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
    if energy_facts.flow_density(program.energy, program.variables):
        result.update(test_log_likelihood(model, program, split, limit, device))
    else:
        result.update(test_data_term(model, program, split, limit, device))
    if ais is not None:
        result["ais"] = ais_report(program, model, split, stats, ais, device, seed, limit, progress)
    ood = ood_report(model, program, split, limit, device, seed, ood_scores)
    if ood:
        result["ood"] = ood
    start = time.perf_counter()
    quality = generation(program, model, split, stats, device, stream_seed(seed, "generation"))
    if quality:
        result.update(quality)
        result.setdefault("seconds", {})["generation"] = time.perf_counter() - start
    return result
