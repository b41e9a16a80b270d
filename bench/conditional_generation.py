"""Do a trained run's conditional samples obey their condition? Scored by an independent judge.

In: a run folder of `ebmspec train` (its spec, profile, EMA weights, data statistics and fitted
transforms). Out: per conditioned value, the share of samples the judge places where the condition
says, then summary lines `NAME_min=` / `NAME_mean=` per conditioned variable (and for the toy
`modes_within=`), as `ebmspec sample RUN --condition NAME=k` draws them: `--chains` chains from the
sampler's init distribution, the sampler's default sweeps (or `--steps`), the run's EMA weights.

The judge, by dataset:

* dsprites: a classifier trained here on the real training images (pixel space: the run's
  transforms applied and inverted, as samples are shown) - two conv + pool layers and an MLP,
  not the EBM's architecture - predicting x_pos and y_pos. A sample counts when the predicted bin
  of the conditioned variable is within +-1 of the condition (docs/design/DESIGN.md section 5).
  Also printed: the median foreground size (pixels > 0.5) of samples and of data, and the median of
  each image's maximum |model-space value| (the range Langevin reached) against the data's.
* mnist: the same kind of classifier over the 10 digits; a sample counts when its digit is the
  condition.
* toy: the generating process is known: a sample counts when the mode nearest to it has the
  conditioned attributes (each of the 8 joint values of y). Unconditional samples give the share
  of the 8 modes (`occupancy`, 12.5 % each for the data); beside it, the model density's own
  mass per mode, integrated on a grid (`model_mass_*`), which short-run chains need not follow.

Run: `python bench/conditional_generation.py runs/latest [--chains 20] [--steps N] [--threads 2]
[--set sampler.joint.x.noise=0.1] [--device cuda]` (`--set`: test-time settings on top of the
run's; `--device`: where the chains run, the judge always trains on the CPU).
"""

from __future__ import annotations

import argparse
import time
from dataclasses import replace
from pathlib import Path

import torch
import torch.nn.functional as F
from torch import nn

from ebmspec.passes.profiles import apply_overrides
from ebmspec.runs import load_run
from ebmspec.runtime.data import TOY_CENTRES, load_dataset, toy_attributes
from ebmspec.runtime.data.encoding import encode
from ebmspec.runtime.evaluation.predict import label_configurations
from ebmspec.runtime.model.energy import variable_table
from ebmspec.runtime.sampling.sampler import default_sampler, sample
from ebmspec.runtime.seeding import stream
from ebmspec.semantic.profiles import check_setting
from ebmspec.source import Source


class Judge(nn.Module):
    """Independent image classifier: conv 5x5 (32) + pool, conv 3x3 (64) + pool, MLP 128."""

    def __init__(self, size: int, heads: list[int]):
        super().__init__()
        self.heads = heads
        self.net = nn.Sequential(
            nn.Conv2d(1, 32, 5, padding=2),
            nn.ReLU(),
            nn.MaxPool2d(2),
            nn.Conv2d(32, 64, 3, padding=1),
            nn.ReLU(),
            nn.MaxPool2d(2),
            nn.Flatten(),
            nn.Linear(64 * (size // 4) ** 2, 128),
            nn.ReLU(),
            nn.Linear(128, sum(heads)),
        )

    def forward(self, pixels: torch.Tensor) -> list[torch.Tensor]:
        return list(self.net(pixels).split(self.heads, dim=1))


def pixels_of(run, values: torch.Tensor, name: str) -> torch.Tensor:
    """Model-space images -> pixel space, by the run's fitted transforms inverted."""
    pipeline = run.pipelines.get(name)
    return values if pipeline is None else pipeline.inverse(values).clamp(0, 1)


def train_judge(run, dataset, labels: list[str], steps: int, seed: int) -> Judge:
    """The judge on real training images (transformed as the run saw them, shown as samples
    are), Adam, batch 128; its test accuracy per label is printed."""
    table = variable_table(run.program)
    heads = [table[name].categories for name in labels]
    size = table["x"][1][-1]
    judge = Judge(size, heads)
    generator = stream(seed, "judge")
    optimizer = torch.optim.Adam(judge.parameters(), 1e-3)
    for _ in range(steps):
        raw = dataset.batch(128, generator)
        values, _ = encode(table, raw, run.pipelines, generator)
        scores = judge(pixels_of(run, values["x"], "x"))
        loss = sum(F.cross_entropy(s, raw[n].long()) for s, n in zip(scores, labels, strict=True))
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
    judge.eval()
    values, _ = encode(table, dataset.test, run.pipelines, torch.Generator().manual_seed(seed))
    with torch.no_grad():
        scores = judge(pixels_of(run, values["x"], "x"))
    for score, name in zip(scores, labels, strict=True):
        correct = (score.argmax(1) == dataset.test[name].long()).float().mean()
        print(f"judge accuracy on the real test images, {name}: {100 * float(correct):.2f} %")
    return judge


def conditional_samples(
    run, name: str, value: int, chains: int, steps, seed: int, device: str = "cpu"
) -> dict:
    """`ebmspec sample RUN --condition name=value -n chains` (same code path and defaults)."""
    table = variable_table(run.program)
    kind, shape, categories, _, _ = table[name]
    code = torch.full(shape, value)
    clamped = F.one_hot(code, categories).float() if kind == "categorical" else code.float()
    state, _ = sample(
        run.program, run.model, chains, sweeps=steps, seed=seed,
        condition={name: clamped.to(device)}, stats=run.stats, device=device,
    )  # fmt: skip
    return {n: v.detach().cpu() for n, v in state.point.values.items()}


def image_benchmark(run, dataset, labels: list[str], tolerance: int, args) -> dict:
    judge = train_judge(run, dataset, labels, args.judge_steps, args.seed)
    table = variable_table(run.program)
    data = encode(table, dataset.test, run.pipelines, torch.Generator().manual_seed(args.seed))[0]
    data_pixels = pixels_of(run, data["x"], "x")
    print(
        f"data: median foreground {float((data_pixels > 0.5).sum((1, 2, 3)).float().median()):.0f}"
        f" px, median max |x| {float(data['x'].abs().amax((1, 2, 3)).median()):.2f}"
    )
    summary = {}
    for index, name in enumerate(labels):
        shares, sizes, ranges = [], [], []
        for value in range(table[name].categories):
            drawn = conditional_samples(
                run, name, value, args.chains, args.steps, args.seed, args.device
            )
            pixels = pixels_of(run, drawn["x"], "x")
            with torch.no_grad():
                predicted = judge(pixels)[index].argmax(1)
            shares.append(float(((predicted - value).abs() <= tolerance).float().mean()))
            sizes.append((pixels > 0.5).sum((1, 2, 3)).float())
            ranges.append(drawn["x"].abs().amax((1, 2, 3)))
        print(f"{name}: " + " ".join(f"{k}:{100 * s:.0f}%" for k, s in enumerate(shares)))
        print(
            f"{name}: samples' median foreground {float(torch.cat(sizes).median()):.0f} px, "
            f"median max |x| {float(torch.cat(ranges).median()):.2f}"
        )
        summary[f"{name}_min"] = min(shares)
        summary[f"{name}_mean"] = sum(shares) / len(shares)
    return summary


def nearest_modes(points: torch.Tensor) -> torch.Tensor:
    return torch.cdist(points.float(), TOY_CENTRES).argmin(1)


def toy_benchmark(run, args) -> dict:
    attributes = toy_attributes(torch.arange(8), dict(run.program.data.source.args)["attributes"])
    shares = []
    for code in range(8):
        wanted = torch.tensor([(code >> (2 - i)) & 1 for i in range(3)])
        drawn = conditional_samples_toy(run, wanted, args)
        modes = nearest_modes(drawn["x"])
        shares.append(float((attributes[modes] == wanted).all(1).float().mean()))
    print("conditioned on y = " + " ".join(f"{c:03b}:{100 * s:.0f}%" for c, s in enumerate(shares)))
    state, _ = sample(
        run.program, run.model, args.chains * 50, sweeps=args.steps, seed=args.seed,
        stats=run.stats, device=args.device,
    )  # fmt: skip
    occupancy = torch.bincount(nearest_modes(state.point.values["x"].detach().cpu()), minlength=8)
    occupancy = occupancy.float() / occupancy.sum()
    print(
        "unconditional occupancy of the 8 modes: "
        + " ".join(f"{100 * float(o):.1f}%" for o in occupancy)
    )
    mass = model_mode_mass(run)
    print(
        "the model's own mass per mode (p(x) integrated on a grid): "
        + " ".join(f"{100 * float(m):.1f}%" for m in mass)
    )
    return {
        "modes_within_min": min(shares),
        "modes_within": sum(shares) / len(shares),
        "occupancy_min": float(occupancy.min()),
        "occupancy_max": float(occupancy.max()),
        "model_mass_min": float(mass.min()),
        "model_mass_max": float(mass.max()),
    }


def model_mode_mass(run, points: int = 300, margin: float = 2.0) -> torch.Tensor:
    """p(x) = sum_y exp f(x, y) / Z on a grid `margin` beyond the modes, summed per nearest mode.
    Short-run chains from the init distribution need not reflect it: they stay in the basin
    they start in, so their occupancy follows the basins' areas, not the modes' masses."""
    low, high = float(TOY_CENTRES.min()) - margin, float(TOY_CENTRES.max()) + margin
    axis = torch.linspace(low, high, points)
    grid = torch.stack(torch.meshgrid(axis, axis, indexing="ij"), -1).reshape(-1, 2)
    configs = label_configurations(run.program, ["y"])
    device = next(run.model.parameters()).device
    with torch.no_grad():
        energies = [
            run.model({"x": grid.to(device), "y": value.expand(len(grid), *value.shape).to(device)})
            .reshape(-1)
            .cpu()
            for value in configs.values["y"]
        ]
    density = torch.softmax(torch.logsumexp(torch.stack(energies, 1), 1), 0)
    return torch.zeros(len(TOY_CENTRES)).index_add_(0, nearest_modes(grid), density)


def conditional_samples_toy(run, wanted: torch.Tensor, args) -> dict:
    clamped = F.one_hot(wanted, 2).float()
    state, _ = sample(
        run.program, run.model, args.chains * 10, sweeps=args.steps, seed=args.seed,
        condition={"y": clamped.to(args.device)}, stats=run.stats, device=args.device,
    )  # fmt: skip
    return {n: v.detach().cpu() for n, v in state.point.values.items()}


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("run", type=Path, help="a run folder of `ebmspec train`")
    parser.add_argument("--chains", type=int, default=20, help="samples per conditioned value")
    parser.add_argument("--steps", type=int, default=None, help="sweeps (default: the sampler's)")
    parser.add_argument("--judge-steps", type=int, default=800, help="training steps of the judge")
    parser.add_argument("--best", action="store_true", help="the run's best weights")
    parser.add_argument(
        "--set",
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help="a test-time setting on top of the run's, e.g. sampler.joint.x.noise=0.1",
    )
    parser.add_argument("--threads", type=int, default=None)
    parser.add_argument(
        "--device", default="cpu", help="where the chains run (the judge trains on the CPU)"
    )
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args(argv)
    if args.threads is not None:
        torch.set_num_threads(args.threads)
    run = load_run(args.run, device=args.device, best=args.best)
    trained = run.program  # as trained: the data come from it, not from the test-time settings
    if args.set:
        overrides = [check_setting(run.program, Source("--set", text)) for text in args.set]
        run = replace(run, program=apply_overrides(run.program, overrides))
    program = run.program
    sweeps = program.sampler(default_sampler(program)).sweeps if args.steps is None else args.steps
    weights = (
        f"best weights of iteration {run.meta['iteration']}"
        if run.meta.get("weights") == "best"
        else f"iteration {run.meta.get('iteration')}"
    )
    print(
        f"{program.name}: {run.path}, {weights}; {args.chains} chains "
        f"per value x {sweeps} sweeps from the init distribution; {torch.get_num_threads()} threads"
    )
    start = time.perf_counter()
    dataset_name = program.data.source.name
    if dataset_name == "toy":
        summary = toy_benchmark(run, args)
    else:
        dataset = load_dataset(trained)
        if dataset_name == "dsprites":
            summary = image_benchmark(run, dataset, ["x_pos", "y_pos"], 1, args)
        else:
            summary = image_benchmark(run, dataset, ["y"], 0, args)
    print(f"({time.perf_counter() - start:.0f} s)")
    for key, value in summary.items():
        print(f"{key}={value:.3f}")


if __name__ == "__main__":
    main()
