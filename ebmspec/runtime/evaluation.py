"""Evaluation of a joint EBM: the `evaluate` block of a spec, run on a test split.

In: a checked program, its energy module, a test split in model space (`{name: [N, ...]}`, reals
transformed, categoricals one-hot, plus `labels`: `{name: int64 [N, *shape]}`, -1 = missing) and
the data statistics the samplers' init distributions read. Out: energy-based predictions (f at
every label configuration, ALGORITHMS.md 2.6), sample-based ones (majority vote of chains with the
inputs clamped), per-attribute accuracy, top-label ECE (equal-width bins, a confidence of exactly
1.0 in the last one: 2.9, 3.4), and the report pictures as PNG bytes: conditional sample grids and
the data / model / samples density panels of a 2-D real variable.
"""

from __future__ import annotations

import itertools
import math
import time
from typing import NamedTuple

import torch
import torch.nn.functional as F

from ebmspec import ir
from ebmspec.runtime import images, lettering, sampling
from ebmspec.runtime.batches import labels_of
from ebmspec.runtime.energy import variable_table
from ebmspec.runtime.generation import generation
from ebmspec.runtime.objectives import configurations

MAX_CONFIGURATIONS = 65_536  # dSprites has 256; beyond this enumeration is not the way
ENERGY_ROWS = 8192  # (example, configuration) rows per energy evaluation
SAMPLE_CHAINS = 2500  # chains per sampling run (examples x chains per example)
# Colour map of the density panels (black -> purple -> red -> orange -> pale yellow).
COLOURS = ((0.0, 0.0, 0.0), (0.34, 0.06, 0.43), (0.85, 0.27, 0.2), (0.99, 0.65, 0.1), (1, 1, 0.7))


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


def _energy_table(model, given: dict, configurations: dict, count: int) -> torch.Tensor:
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


def _hidden(program: ir.Program, given, targets) -> list[str]:
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
    hidden = _hidden(program, given, targets)
    configs = label_configurations(program, targets + tuple(hidden))
    count = configs.count
    spread = math.prod(program.variable(n).cardinality for n in hidden)  # per target config
    first = {name: labels[::spread] for name, labels in configs.labels.items() if name in targets}
    total = next(iter(given.values())).shape[0]
    per = max(1, batch // count)
    best, probs = [], []
    for start in range(0, total, per):
        part = {name: value[start : start + per] for name, value in given.items()}
        f = _energy_table(model, part, configs.values, count)
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
):
    """Sample-based prediction: each example's `chains` chains run `steps` sweeps of `sampler`
    with the given variables clamped (so only the other blocks run), the targets starting from
    the sampler's init distribution. Returns (pred, frequencies): frequencies[name]
    [N, *shape, K] = share of chains ending at each value, pred = its argmax (ties: lowest).
    Runs of `batch` chains; run i uses seed + i. `progress(done, total)` after each run."""
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
            seed=seed + run,
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


def attribute_names(name: str, shape) -> list[str]:
    """`name` for a scalar variable, `name[i]` (`name[i, j]`) per element of an array."""
    if not shape:
        return [name]
    return [f"{name}[{', '.join(map(str, i))}]" for i in itertools.product(*map(range, shape))]


def _attributes(labels: dict, other: dict):
    """(attribute, label [N], other's entry [N, ...]) per element of every labelled variable."""
    for name, label in labels.items():
        n = label.shape[0]
        rows, values = label.reshape(n, -1), other[name]
        values = values.reshape(n, rows.shape[1], *values.shape[label.dim() :])
        for j, attribute in enumerate(attribute_names(name, tuple(label.shape[1:]))):
            yield attribute, rows[:, j], values[:, j]


def accuracy(pred: dict, labels: dict) -> dict:
    """Per-attribute accuracy over the examples whose label is not -1, and `mean` over all
    observed (example, attribute) pairs (ALGORITHMS.md 2.6: not exact-match). An attribute with
    no label is NaN. Returns {"mean", "per_attribute": {attribute: accuracy}, "pairs"}."""
    per_attribute, right, seen = {}, 0, 0
    for attribute, label, guess in _attributes(labels, pred):
        observed = label != -1
        hits = int((guess[observed] == label[observed]).sum())
        count = int(observed.sum())
        per_attribute[attribute] = hits / count if count else math.nan
        right, seen = right + hits, seen + count
    return {
        "mean": right / seen if seen else math.nan,
        "per_attribute": per_attribute,
        "pairs": seen,
    }


def calibration_error(confidence: torch.Tensor, correct: torch.Tensor, bins: int = 20) -> float:
    """Top-label ECE: sum over `bins` equal-width bins [k/bins, (k+1)/bins) of
    (n_b / n) |accuracy_b - confidence_b|. A confidence of exactly 1.0 belongs to the last bin
    (the upper edge is exclusive, and the reference code drops those: ALGORITHMS.md 2.9)."""
    confidence = confidence.double().flatten()
    if confidence.numel() == 0:
        return math.nan
    inner = torch.tensor([k / bins for k in range(1, bins)], dtype=torch.float64)
    index = torch.bucketize(confidence, inner, right=True)  # 1.0 >= every edge: the last bin
    gap = torch.zeros(bins, dtype=torch.float64)
    gap.index_add_(0, index, correct.double().flatten() - confidence)
    return float(gap.abs().sum() / confidence.numel())


def ece(marginals: dict, labels: dict, bins: int = 20) -> dict:
    """Top-label ECE of p(y_i = k | x) (confidence max_k, correct = argmax == label), pooled over
    all observed (example, attribute) pairs (`ece`, the micro average), per attribute, and
    `macro` = the mean over attributes with labels."""
    per_attribute, confidences, corrects = {}, [], []
    for attribute, label, probs in _attributes(labels, marginals):
        observed = label != -1
        confidence, guess = probs[observed].max(-1)
        correct = guess == label[observed]
        per_attribute[attribute] = calibration_error(confidence, correct, bins)
        confidences.append(confidence)
        corrects.append(correct)
    pooled = calibration_error(torch.cat(confidences), torch.cat(corrects), bins)
    known = [v for v in per_attribute.values() if not math.isnan(v)]
    macro = sum(known) / len(known) if known else math.nan
    return {"ece": pooled, "macro": macro, "per_attribute": per_attribute, "bins": bins}


def _report(program: ir.Program, kind: str) -> ir.Call | None:
    reports = program.evaluate.reports if program.evaluate is not None else ()
    return next((r.call for r in reports if r.kind == kind), None)


def evaluate(
    program: ir.Program,
    model,
    split: dict,
    stats: dict | None = None,
    device="cpu",
    seed: int = 0,
    limit: int | None = None,
    progress=None,
) -> dict:
    """Every `predict` line of the spec's evaluate block on `split` (the first `limit` examples).
    Per line: `accuracy_energy` / `ece` (from p(y | x) by enumeration) with the `energy` method,
    `accuracy_samples` with `samples` (and `ece` from the chains' frequencies when there is no
    `energy` method; `ece_from` says which), `per_attribute`, `seconds`. The top level is the
    first line's dict plus `predictions` (all lines); `progress(done, total)` counts examples
    over all lines and methods."""
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
            if method.name == "energy":
                pred, marginals = predict_energy(model, program, given, line.targets)
                calibration = ece(marginals, labels, bins)
                entry.update(ece=calibration["ece"], ece_macro=calibration["macro"])
                entry["ece_from"] = "energy"
                entry["per_attribute"]["ece"] = calibration["per_attribute"]
            else:
                args = dict(method.args)
                pred, frequencies = predict_samples(
                    model,
                    program,
                    given,
                    line.targets,
                    chains=int(args["chains"]),
                    steps=int(args["steps"]),
                    sampler=args.get("sampler"),
                    stats=stats,
                    seed=seed,
                    device=device,
                    progress=advance,
                )
                if "ece" not in entry:
                    calibration = ece(frequencies, labels, bins)
                    entry.update(ece=calibration["ece"], ece_macro=calibration["macro"])
                    entry["ece_from"] = "samples"
                    entry["per_attribute"]["ece"] = calibration["per_attribute"]
            scores = accuracy(pred, labels)
            entry[f"accuracy_{method.name}"] = scores["mean"]
            entry["per_attribute"][f"accuracy_{method.name}"] = scores["per_attribute"]
            entry["seconds"][method.name] = time.perf_counter() - start
            state["done"] += examples
            advance(0, state["total"])
        entries.append(entry)
    result = dict(entries[0]) if entries else {"examples": examples}
    result["predictions"] = entries
    start = time.perf_counter()
    quality = generation(program, model, split, stats, device, seed)
    if quality:
        result.update(quality)
        result.setdefault("seconds", {})["generation"] = time.perf_counter() - start
    return result


# ---- pictures ----------------------------------------------------------------------------------


def _tile(pixels: torch.Tensor) -> torch.Tensor:
    """Pixels [R, C, channels, H, W] in [0, 1] -> uint8 [H', W', channels]: R rows of C tiles,
    `images.PAD` grey pixels around every tile."""
    rows, columns, channels, height, width = pixels.shape
    pad = images.PAD
    grid = torch.full(
        (channels, rows * (height + pad) + pad, columns * (width + pad) + pad), images.PAD_VALUE
    )
    for row in range(rows):
        for column in range(columns):
            top, left = pad + row * (height + pad), pad + column * (width + pad)
            grid[:, top : top + height, left : left + width] = pixels[row, column]
    return (grid * 255).round().clamp(0, 255).to(torch.uint8).permute(1, 2, 0).contiguous()


def conditional_grid(
    program: ir.Program,
    model,
    report_call: ir.Call,
    stats: dict | None = None,
    device="cpu",
    seed: int = 0,
    columns: int = 8,
    transforms=None,
) -> bytes:
    """PNG of a `grid(rows, cols, steps, sampler)` report: one row per value of `rows`; with
    `cols` one tile per (row value, column value), else `columns` tiles per row. Each tile is
    one chain of `steps` sweeps from the init distribution with that condition clamped, shown as
    the program's image variable (`images.to_pixels`; `transforms` is passed on to it)."""
    args = dict(report_call.args)
    rows = label_configurations(program, [args["rows"]])
    condition = {args["rows"]: rows.values[args["rows"]]}
    if args.get("cols") is not None:
        cols = label_configurations(program, [args["cols"]])
        width = cols.count
        values = cols.values[args["cols"]]
        condition[args["cols"]] = values.repeat(rows.count, *([1] * (values.dim() - 1)))
    else:
        width = columns
    condition[args["rows"]] = condition[args["rows"]].repeat_interleave(width, 0)
    variable = images.image_variable(program)
    if variable is None or variable.name in condition:
        raise ValueError("a sample grid needs an image variable ([1 or 3, H, W]) left free")
    state, _ = sampling.sample(
        program,
        model,
        rows.count * width,
        sweeps=int(args["steps"]),
        seed=seed,
        condition={n: v.to(device) for n, v in condition.items()},
        sampler=args.get("sampler"),
        stats=stats,
        device=device,
    )
    pixels = images.to_pixels(program, variable, state.point.values[variable.name], transforms)
    return images.png_bytes(_tile(pixels.reshape(rows.count, width, *pixels.shape[1:])))


class DensityPanels(NamedTuple):
    """Three [bins, bins] probability tables over one grid (each sums to 1; entry [i, j] is the
    cell of the i-th interval of the first coordinate and the j-th of the second) and the
    grid's extent ((low_0, high_0), (low_1, high_1))."""

    data: torch.Tensor
    model: torch.Tensor
    samples: torch.Tensor
    extent: tuple


def _histogram(points: torch.Tensor, low: torch.Tensor, high: torch.Tensor, bins: int):
    points = points.detach().double().cpu()
    cell = ((points - low) / (high - low) * bins).floor().long()
    cell = torch.where(points == high, bins - 1, cell)  # the upper edge belongs to the last bin
    inside = ((cell >= 0) & (cell < bins)).all(1)
    cell = cell[inside]
    counts = torch.bincount(cell[:, 0] * bins + cell[:, 1], minlength=bins * bins).double()
    return (counts / counts.sum().clamp_min(1)).reshape(bins, bins)


def density_panels(
    program: ir.Program,
    model,
    report_call: ir.Call,
    data_points: torch.Tensor,
    stats: dict | None = None,
    device="cpu",
    seed: int = 0,
    samples: torch.Tensor | None = None,
    chains: int = 2000,
    sweeps: int | None = None,
) -> DensityPanels:
    """The tables behind `density_png`: data histogram; the model's marginal density of the
    variable, exp(logsumexp of f over every configuration of the discrete variables) at the
    cell midpoints, normalised over the grid; histogram of `samples` (default: the final states
    of `chains` unconditional chains of the default sampler, `sweeps` sweeps)."""
    name, bins = report_call.arg("variable"), int(report_call.arg("bins"))
    variable = program.variable(name)
    if variable.kind != "real" or variable.shape != (2,):
        raise ValueError(f"a density plot needs a real[2] variable, {name!r} is not one")
    points = data_points.detach().double().cpu()
    low, high = points.min(0).values, points.max(0).values
    high = torch.where(high > low, high, low + 1)
    configs = label_configurations(program, _hidden(program, (name,), ()))
    centres = [low[d] + (torch.arange(bins) + 0.5) * (high[d] - low[d]) / bins for d in (0, 1)]
    grid = torch.stack(torch.meshgrid(*centres, indexing="ij"), -1).reshape(-1, 2)
    grid = grid.to(device=device, dtype=torch.float32)
    per = max(1, ENERGY_ROWS // configs.count)
    with torch.no_grad():
        log_density = torch.cat(
            [
                _energy_table(model, {name: grid[s : s + per]}, configs.values, configs.count)
                .double()
                .logsumexp(-1)
                .cpu()
                for s in range(0, grid.shape[0], per)
            ]
        )
    density = log_density.softmax(0).reshape(bins, bins)
    if samples is None:
        state, _ = sampling.sample(
            program, model, chains, sweeps=sweeps, seed=seed, stats=stats, device=device
        )
        samples = state.point.values[name]
    extent = tuple((float(low[d]), float(high[d])) for d in (0, 1))
    return DensityPanels(
        _histogram(points, low, high, bins), density, _histogram(samples, low, high, bins), extent
    )


def colour(values: torch.Tensor) -> torch.Tensor:
    """Values in [0, 1] -> RGB floats [..., 3] on `COLOURS`, piecewise linear."""
    anchors = torch.tensor(COLOURS, dtype=torch.float64)
    position = values.double().clamp(0, 1) * (len(COLOURS) - 1)
    index = position.floor().long().clamp(max=len(COLOURS) - 2)
    share = (position - index).unsqueeze(-1)
    return anchors[index] * (1 - share) + anchors[index + 1] * share


def density_png(
    program: ir.Program,
    model,
    report_call: ir.Call,
    data_points: torch.Tensor,
    stats: dict | None = None,
    device="cpu",
    seed: int = 0,
    samples: torch.Tensor | None = None,
    chains: int = 2000,
    sweeps: int | None = None,
) -> bytes:
    """RGB PNG of a `plot(variable, bins)` report: data, model density and model samples side by
    side, titled, each bins x bins cells of `density_zoom(bins)` pixels (first coordinate left
    to right, second bottom to top, their ranges on the axes; colour = sqrt of the cell's
    probability over the panel's largest); layout in `lettering.labelled_panels`."""
    panels = density_panels(
        program, model, report_call, data_points, stats, device, seed, samples, chains, sweeps
    )
    tiles = []
    for table in (panels.data, panels.model, panels.samples):
        scaled = (table / table.max().clamp_min(1e-300)).sqrt()
        tiles.append(colour(scaled.t().flip(0)).permute(2, 0, 1))  # [3, rows, columns]
    figure = density_figure(tiles, panels.extent, report_call.arg("variable"))
    return images.png_bytes(figure.image)


def density_figure(tiles: list[torch.Tensor], extent, name: str) -> lettering.Figure:
    """The density plot's three coloured tiles [3, bins, bins] laid out and labelled; a cell is
    240 // bins pixels wide, so panels stay about 240 pixels whatever the number of bins."""
    zoom = max(1, 240 // tiles[0].shape[-1])
    titles = ["data", "model density", "model samples"]
    return lettering.labelled_panels(tiles, titles, extent, (f"{name}[0]", f"{name}[1]"), zoom)
