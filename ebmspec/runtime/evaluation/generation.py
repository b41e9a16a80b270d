"""Generation quality of a joint EBM: do conditional samples obey their condition?

In: a checked program with a `samples accuracy(chains, steps, sampler)` report and `predict`
lines, its energy module, the data statistics the init distributions read, and a test split in
model space. Out (`generation`): for every predicted discrete variable with few enough values,
`chains` chains per value, started from the init distribution with that value clamped (the other
variables sampled, as `ebmspec sample --condition name=value` draws them), run `steps` sweeps;
the model's own energy-based prediction of the variable from the samples' inputs is compared with
the clamped value:

    generation_accuracy            share of samples predicted as their condition (all values)
    generation_worst               the lowest share of any single value (edge bins, rare digits)
    per_value                      {variable: {value: share}}
    sample_out_of_range            share of sampled input elements outside the data's range
    sample_mean_gap                mean over elements of |sample mean - data mean| / data std

The model's own classifier can be fooled by samples it likes (the benches score samples with an
independent classifier as well); the statistics against the data catch samples that leave it.
"""

from __future__ import annotations

import torch

from ebmspec import ir
from ebmspec.runtime.evaluation.predict import label_configurations, predict_energy, report
from ebmspec.runtime.sampling import sampler as sampling

MAX_VALUES = 256  # variables with more joint values are not enumerated
CONDITIONED = 10_000  # at most this many chains in one sampling run


def generation(
    program: ir.Program, model, split: dict, stats: dict | None, device="cpu", seed: int = 0
) -> dict:
    """The report's numbers (see the module docstring); {} when the spec asks for none."""
    call = report(program, "samples", "accuracy")
    if call is None:
        return {}
    args = dict(call.args)
    chains, steps = int(args["chains"]), int(args["steps"])
    per_value: dict = {}
    hits = total = 0
    samples: dict[str, list] = {}
    for line in program.evaluate.predictions:
        for name in line.targets:
            if name in per_value or program.variable(name).cardinality > MAX_VALUES:
                continue
            configs = label_configurations(program, [name])
            count = configs.count
            value = configs.values[name].repeat_interleave(chains, 0)
            state, _ = sampling.sample(
                program,
                model,
                count * chains,
                sweeps=steps,
                seed=seed,
                condition={name: value.to(device)},
                sampler=args.get("sampler"),
                stats=stats,
                device=device,
            )
            given = {n: state.point.values[n].detach() for n in line.given}
            for n, v in given.items():
                samples.setdefault(n, []).append(v.cpu())
            pred, _ = predict_energy(model, program, given, (name,))
            wanted = configs.labels[name].repeat_interleave(chains, 0)
            right = pred[name].reshape(count * chains, -1) == wanted.reshape(count * chains, -1)
            right = right.all(1).reshape(count, chains).float()
            per_value[name] = {
                _value_name(configs.labels[name][k]): round(float(right[k].mean()), 4)
                for k in range(count)
            }
            hits += float(right.sum())
            total += right.numel()
    if not total:
        return {}
    worst = min(v for shares in per_value.values() for v in shares.values())
    result = {
        "generation_accuracy": hits / total,
        "generation_worst": worst,
        "per_value": per_value,
    }
    result.update(_statistics(samples, split))
    return result


def _value_name(label: torch.Tensor) -> str:
    flat = label.reshape(-1).tolist()
    return str(flat[0]) if len(flat) == 1 else "".join(str(v) for v in flat)


def _statistics(samples: dict, split: dict) -> dict:
    """Out-of-range share and normalised mean gap of the sampled real inputs against the data."""
    out, gaps = [], []
    for name, parts in samples.items():
        data = split.get(name)
        if data is None or not data.is_floating_point():
            continue
        drawn = torch.cat(parts).float()
        data = data.float().cpu()
        low, high = data.min(), data.max()
        out.append(((drawn < low) | (drawn > high)).float().mean())
        std = data.std(0).clamp_min(1e-6)
        gaps.append(((drawn.mean(0) - data.mean(0)).abs() / std).mean())
    if not out:
        return {}
    return {
        "sample_out_of_range": float(torch.stack(out).mean()),
        "sample_mean_gap": float(torch.stack(gaps).mean()),
    }
