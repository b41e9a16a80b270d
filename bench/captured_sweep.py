"""Sweeps per second, eager against captured (runtime/sampling/capture.py), on paper 004's networks.

In: `specs/dsprites_joint.ebm` (CNN + MLP; GWG on the positions, Langevin on the image) and
`specs/mnist_jem.ebm` (its network; GWG on the label, Langevin on the image) at initial weights,
on the device given (default: cuda when available). Out, per network and batch: ms per sweep of
each variant, then `captured_vs_eager_<net>_<batch>=` (the fastest captured variant's sweeps per
second over the eager default's), and for dSprites at the paper's batch the projected wall time
of the paper's sampling (180,000 iterations x 40 sweeps; the sweeps alone, not the training
step's backward pass, nor evaluation).

Variants, each from the same chain state and generator state (so the same random numbers):

* eager: the default sampler (fused, with the static part of the energy cached: `Memo`);
* eager functional: the same computation as the graph, run eagerly (`FunctionalTarget`: gradients
  by torch.func, no cache) - what capturing starts from;
* captured MODE: `CapturedSweep` in each of `--modes` (torch.compile modes; "reduce-overhead"
  replays CUDA graphs, CUDA only; "aot_eager" traces without generating code).

Before timing, every captured variant must follow the eager functional chain for `--check`
sweeps (max |difference| <= 1e-4, else the script stops: the ratios would compare different
computations). Timing: `--repeats` slots of `--sweeps` sweeps per variant, rotated so that load
changes hit all alike, after `--warmup` sweeps (which include compilation; its time is printed).
Run: `python bench/captured_sweep.py [--device cuda] [--batches 100 1000] [--threads N]`.
"""

from __future__ import annotations

import argparse
import statistics
import time
from pathlib import Path

import torch

from ebmspec.api import compile_file
from ebmspec.runtime.model.energy import lower_energy, variable_table
from ebmspec.runtime.sampling import schedule
from ebmspec.runtime.sampling.capture import CapturedSweep, functional
from ebmspec.runtime.sampling.kernels import Target
from ebmspec.runtime.sampling.sampler import default_sampler, sampler_table

SPECS = Path(__file__).resolve().parent.parent / "specs"
NETWORKS = {"dsprites": "dsprites_joint.ebm", "mnist": "mnist_jem.ebm"}
PAPER_SWEEPS = 180_000 * 40  # paper 004's dSprites schedule: iterations x sweeps per iteration


def synchronize(device: str) -> None:
    if device.startswith("cuda"):
        torch.cuda.synchronize()


class Variant:
    """One way of running the network's schedule, with its own chains and generator."""

    def __init__(self, sweeps, target, values, generator_state, device, mode=None):
        self.schedule = sweeps
        self.target = target
        self.state = sweeps.start({n: v.clone() for n, v in values.items()})
        self.generator = torch.Generator(device=device).set_state(generator_state)
        self.captured = None if mode is None else CapturedSweep(sweeps, target, mode)

    def run(self, sweeps: int) -> None:
        if self.captured is None:
            self.state = self.schedule.run(self.state, self.target, self.generator, sweeps)
        else:
            self.state = self.captured.run(self.state, self.generator, sweeps)


def build(network: str, batch: int, device: str, modes, seed: int) -> dict:
    program = compile_file(SPECS / NETWORKS[network])
    model = lower_energy(program, seed=0).to(device)
    variables = variable_table(program)
    table = sampler_table(program.sampler(default_sampler(program)))
    sweeps = schedule.build_schedule(table["blocks"], variables)
    generator = torch.Generator(device=device).manual_seed(seed)
    values = schedule.initial_values(table["inits"], variables, batch, generator, device=device)
    state = generator.get_state()
    target = Target(model, variables)
    variants = {
        "eager": Variant(sweeps, target, values, state, device),
        "eager functional": Variant(sweeps, functional(target), values, state, device),
    }
    for mode in modes:
        variants[f"captured {mode}"] = Variant(sweeps, target, values, state, device, mode)
    return variants


def gap(a: Variant, b: Variant) -> float:
    return max(
        (a.state.point.values[n] - v).abs().max().item() for n, v in b.state.point.values.items()
    )


def measure(network: str, batch: int, args) -> dict:
    variants = build(network, batch, args.device, args.modes, args.seed)
    reference = variants["eager functional"]
    compiled = {}
    for name, variant in variants.items():
        start = time.perf_counter()
        variant.run(args.check)
        synchronize(args.device)
        compiled[name] = time.perf_counter() - start
    for name, variant in variants.items():
        found = gap(variant, reference)
        if found > 1e-4:
            raise SystemExit(f"{name} left the eager chain after {args.check} sweeps ({found:.1e})")
    for variant in variants.values():
        variant.run(args.warmup)
    synchronize(args.device)
    times: dict[str, list[float]] = {name: [] for name in variants}
    order = list(variants)
    for repeat in range(args.repeats):
        shift = repeat % len(order)
        for name in order[shift:] + order[:shift]:
            synchronize(args.device)
            start = time.perf_counter()
            variants[name].run(args.sweeps)
            synchronize(args.device)
            times[name].append((time.perf_counter() - start) / args.sweeps)
    median = {name: statistics.median(spent) for name, spent in times.items()}
    print(f"{network}, batch {batch}:")
    for name in variants:
        print(
            f"  {name:<28} {median[name] * 1e3:9.3f} ms/sweep"
            f"  (first {args.check} sweeps, compilation included: {compiled[name]:.1f} s)"
        )
    return median


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    parser.add_argument(
        "--networks", nargs="+", choices=sorted(NETWORKS), default=["dsprites", "mnist"]
    )
    parser.add_argument("--batches", nargs="+", type=int, default=[100, 1000])
    parser.add_argument(
        "--modes",
        nargs="+",
        default=None,
        help="torch.compile modes to capture in (default: default and, on CUDA, reduce-overhead)",
    )
    parser.add_argument("--sweeps", type=int, default=5, help="sweeps per timed slot")
    parser.add_argument("--repeats", type=int, default=10, help="timed slots per variant")
    parser.add_argument("--warmup", type=int, default=3, help="untimed sweeps after the check")
    parser.add_argument("--check", type=int, default=4, help="sweeps of the same-chain check")
    parser.add_argument("--threads", type=int, default=None, help="torch CPU threads")
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args(argv)
    if args.modes is None:
        args.modes = (
            ["default", "reduce-overhead"] if args.device.startswith("cuda") else ["default"]
        )
    if args.threads is not None:
        torch.set_num_threads(args.threads)
    card = torch.cuda.get_device_name(args.device) if args.device.startswith("cuda") else "CPU"
    print(
        f"device {args.device} ({card}), {torch.get_num_threads()} CPU threads, "
        f"torch {torch.__version__}; median of {args.repeats} slots x {args.sweeps} sweeps"
    )
    for network in args.networks:
        for batch in args.batches:
            median = measure(network, batch, args)
            captured = min(v for k, v in median.items() if k.startswith("captured"))
            print(f"captured_vs_eager_{network}_{batch}={median['eager'] / captured:.3f}")
            if network == "dsprites" and batch == 100:
                for name, seconds in (("eager", median["eager"]), ("captured", captured)):
                    hours = seconds * PAPER_SWEEPS / 3600
                    print(
                        f"  paper schedule (180,000 iterations x 40 sweeps, batch 100), "
                        f"sweeps alone, {name}: {hours:.1f} h"
                    )


if __name__ == "__main__":
    main()
