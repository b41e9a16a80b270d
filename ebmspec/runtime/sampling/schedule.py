"""Block Metropolis-within-Gibbs schedules: kernels composed in order, initial states, clamping.

In: plain tables (so the emitted standalone module can embed them): the variable table
`{name: Var(kind, shape, categories, low, high)}`, a sampler `{"inits": [(names, dist, params)],
"blocks": [(kernel, names, params, repeats)], "sweeps": n}`, an energy module and the conditioning
`{name: value}`. Out: batched chains after the requested sweeps, plus per-block diagnostics.

Fusion: a `Point` carries f and the gradients of every free variable once any block evaluated
them, and a kernel evaluates only when its entry point lacks what it reads. A GWG block leaves the
accepted state's f and gradients, so a following Langevin block reuses them: 2 forward+backward
passes per GWG + Langevin sweep instead of 3. `fuse=False` drops the cache at every block entry -
the naive loop, same random numbers, same chain.

Caching (the `Target`'s `cache`, see `kernels.base.Memo`): a block whose moves leave an expensive
part of the energy alone (labels beside an image network) evaluates that part once at its entry
and scores its proposals with the head; the next block's gradients cost one backward from it. A
GWG + Langevin sweep on dSprites then costs one forward and one backward of the CNN.
"""

from __future__ import annotations

import math
from typing import NamedTuple

import torch
import torch.nn.functional as F

from ebmspec.runtime.sampling.kernels import Kernel
from ebmspec.runtime.sampling.kernels.base import KernelState, Point, Target, gumbel
from ebmspec.runtime.sampling.tempering import Scaled, TemperedTarget, Tempering, replicate

# --- begin standalone ---

# Every kernel class by its spec name, found rather than listed: a new kernel module is picked up
# here (and in the emitted module, which defines the same classes above this point).
# elements per slice of a large truncated-normal draw (its float64 temporaries stay ~100 MiB)
CHUNK = 1 << 20
KERNEL_CLASSES = {kernel.name: kernel for kernel in Kernel.__subclasses__()}


class ChainState(NamedTuple):
    """Where a batch of chains stands.

    point:   the current `Point` (values, and f / gradients when known).
    kernels: one `KernelState` (diagnostics) per block, in schedule order.
    sweeps:  sweeps completed (a Python int).
    """

    point: Point
    kernels: tuple
    sweeps: int


class Schedule:
    """An ordered list of (kernel, repeats); one `sweep` applies each kernel `repeats` times.

    A schedule follows the kernel protocol itself (`init(point)` -> the blocks' states,
    `step(point, state, target, generator)` = one sweep), so a schedule can be a block of another
    one: `Schedule([(Schedule(inner), 2), (kernel, 1)])` runs the inner sweep twice, then the
    kernel. `variables`, `reads` and `leaves` are those of its blocks (the first block's entry
    needs, the last block's result)."""

    def __init__(self, blocks: list, fuse: bool = True):
        self.blocks = [(kernel, int(repeats)) for kernel, repeats in blocks]
        self.fuse = fuse
        self.variables = tuple(dict.fromkeys(n for k, _ in self.blocks for n in k.variables))
        self.reads = self.blocks[0][0].reads if self.blocks else "none"
        self.leaves = self.blocks[-1][0].leaves if self.blocks else "none"

    def start(self, values: dict) -> ChainState:
        """Chains at `values`, no sweep done."""
        point = Point(dict(values), None, None)
        return ChainState(point, self.init(point), 0)

    def init(self, point: Point) -> tuple:
        return tuple(k.init(point) for k, _ in self.blocks)

    def step(self, point: Point, state: tuple, target: Target, generator):
        """One sweep from `point`; `state` holds one state per block."""
        kernel_states = list(state)
        for index, (kernel, repeats) in enumerate(self.blocks):
            for _ in range(repeats):
                if not self.fuse:
                    point = Point(point.values, None, None)
                point, kernel_states[index] = kernel.step(
                    point, kernel_states[index], target, generator
                )
        return point, tuple(kernel_states)

    def sweep(self, state: ChainState, target: Target, generator) -> ChainState:
        point, kernel_states = self.step(state.point, state.kernels, target, generator)
        return ChainState(point, kernel_states, state.sweeps + 1)

    def run(self, state: ChainState, target: Target, generator, sweeps: int, callback=None):
        for _ in range(sweeps):
            state = self.sweep(state, target, generator)
            if callback is not None:
                callback(state)
        return state


def running_blocks(blocks: list, variables: dict, fixed=()) -> list:
    """`(index, kernel, names, free, params, repeats)` of the `(kernel, names, params, repeats)`
    rows that run with the variables `fixed` clamped: a clamped variable leaves its block (a
    `whole_block` kernel keeps it in `names` and honours `Target.fixed` itself), and a block left
    with nothing to update - for `jump`, with no free label - does not run. `free`: the names
    that can move. The one rule for the schedule, `ebmspec sample`'s report and the emitted
    module's summary."""
    running = []
    for index, (kernel_name, names, params, repeats) in enumerate(blocks):
        free = tuple(n for n in names if n not in fixed)
        kept = free
        if free and getattr(KERNEL_CLASSES[kernel_name], "whole_block", False):
            if all(variables[n].kind == "real" for n in free):
                continue  # its labels are all clamped: nothing to jump between
            kept = tuple(names)
        if free:
            running.append((index, kernel_name, kept, free, params, repeats))
    return running


def build_schedule(blocks: list, variables: dict, fixed=(), fuse: bool = True) -> Schedule:
    """Kernels from `(kernel, names, params, repeats)` rows, those of `running_blocks`."""
    built = [
        (KERNEL_CLASSES[kernel](names, variables, **dict(params)), repeats)
        for _, kernel, names, _, params, repeats in running_blocks(blocks, variables, fixed)
    ]
    return Schedule(built, fuse=fuse)


def _categorical(probs: torch.Tensor, batch: int, generator, device) -> torch.Tensor:
    """One-hot draws [batch, *probs.shape] from per-site probabilities on the last axis."""
    logits = torch.log(probs.to(device)).expand(batch, *probs.shape)
    choice = (logits + gumbel(logits.shape, generator, device)).argmax(-1)
    return F.one_hot(choice, probs.shape[-1]).float()


def _truncated_normal(mean, std, low: float, high: float, size, generator, device) -> torch.Tensor:
    """Exact draws of N(mean, std^2) restricted to [low, high] by the inverse CDF, in float64.
    A bounded variable's chains must start inside its box (a plain normal start left a quarter
    of them outside). The side of the box nearer the mean is mapped through the lower tail,
    where the CDF keeps its precision even when the whole box lies many deviations away.

    A large draw (a replay buffer) is made a slice of rows at a time: its float64 temporaries
    were 20 times the buffer (630 MiB for MNIST's 10,000 chains). The generator's stream is
    consumed in the same order, so the values are the same bit for bit."""
    rows = max(1, CHUNK // max(1, math.prod(size[1:])))
    if size[0] > rows and math.prod(size) > CHUNK:
        parts = [
            _truncated_normal(mean, std, low, high, (min(rows, size[0] - start), *size[1:]),
                              generator, device)
            for start in range(0, size[0], rows)
        ]  # fmt: skip
        return torch.cat(parts)
    mean = torch.as_tensor(mean, dtype=torch.float64, device=device).expand(size)
    std = torch.as_tensor(std, dtype=torch.float64, device=device).expand(size).clamp_min(1e-12)
    alpha, beta = (low - mean) / std, (high - mean) / std
    # Reflect where the box lies above the mean, so both bounds sit in the lower tail.
    upper = alpha > 0
    lo, hi = torch.where(upper, -beta, alpha), torch.where(upper, -alpha, beta)
    a, b = torch.special.ndtr(lo), torch.special.ndtr(hi)
    u = torch.rand(size, generator=generator, device=device, dtype=torch.float64)
    z = torch.special.ndtri(a + (b - a) * u).clamp(lo, hi)
    # Beyond ~37 deviations the tail's mass underflows: all of it sits at the nearest bound.
    z = torch.where(b > a, z, hi)
    z = torch.where(upper, -z, z)
    return (mean + std * z).clamp(low, high).float()


def initial_value(
    name: str,
    dist: str,
    params: dict,
    variables: dict,
    batch: int,
    generator,
    stats: dict | None = None,
    device=None,
) -> torch.Tensor:
    """Draw the starting value of one variable for `batch` chains. `stats` holds the data
    statistics of a training run (`min`, `max`, `mean`, `std`, `freq` per variable); without
    them the data-based inits fall back to the variable's box, N(0, 1) or uniform."""
    kind, shape, categories, low, high = variables[name]
    known = (stats or {}).get(name, {})
    size = (batch, *shape)
    if kind == "real":
        if dist == "normal" or (dist == "normal_data" and "mean" in known):
            if dist == "normal":
                mean, std = params.get("mean", 0.0), params.get("std", 1.0)
            else:
                mean, std = known["mean"].to(device), known["std"].to(device)
            if low is not None:
                return _truncated_normal(mean, std, low, high, size, generator, device)
            noise = torch.randn(size, generator=generator, device=device)
            return mean + std * noise
        if dist == "uniform_data_range" and "min" in known:
            low_t, high_t = known["min"].to(device), known["max"].to(device)
            return low_t + (high_t - low_t) * torch.rand(size, generator=generator, device=device)
        if low is not None:
            return low + (high - low) * torch.rand(size, generator=generator, device=device)
        return torch.randn(size, generator=generator, device=device)
    if dist == "data_frequency" and "freq" in known:
        freq = known["freq"]
    else:
        freq = torch.full((*shape, 2 if kind == "binary" else categories), 1.0)
        freq = freq / freq.sum(-1, keepdim=True)
    if kind == "binary":
        freq = torch.stack([1 - freq, freq], -1) if freq.shape[-1:] != (2,) else freq
        return _categorical(freq, batch, generator, device)[..., 1]
    return _categorical(freq, batch, generator, device)


def initial_values(
    inits: list, variables: dict, batch: int, generator, stats=None, device=None
) -> dict:
    values = {}
    for names, dist, params in inits:
        for name in names:
            values[name] = initial_value(
                name, dist, dict(params), variables, batch, generator, stats, device
            )
    return {name: values[name] for name in variables}


def condition_masks(condition: dict, variables: dict, batch: int, device=None):
    """Clamped values and the Target arguments: {name: [B, *tensor_shape]} values, `free` masks
    for partly clamped variables and the set of wholly clamped ones. A condition is a value
    (per example or per chain), or a (value, clamped-elements mask) pair."""
    values, free, fixed = {}, {}, set()
    for name, given in condition.items():
        spec = variables[name]
        kind, shape, categories = spec.kind, spec.shape, spec.categories
        value, clamped = given if isinstance(given, tuple) else (given, None)
        tensor_shape = (*shape, categories) if kind == "categorical" else tuple(shape)
        value = torch.as_tensor(value, dtype=torch.float32, device=device)
        values[name] = (
            value.expand(batch, *tensor_shape) if value.dim() == len(tensor_shape) else value
        )
        if clamped is None:
            fixed.add(name)
        else:
            clamped = torch.as_tensor(clamped, dtype=torch.bool, device=device)
            free[name] = ~clamped.expand(batch, *shape)
    return values, free, fixed


def sample_chains(
    energy,
    variables: dict,
    sampler: dict,
    chains: int,
    sweeps: int | None = None,
    seed: int = 0,
    condition: dict | None = None,
    stats: dict | None = None,
    device="cpu",
    fuse: bool = True,
    callback=None,
    specialize: bool = True,
    cache: bool = True,
    runner=None,
):
    """Run `chains` chains of `sampler` for `sweeps` sweeps (default: the sampler's own) from its
    init distributions, with the variables in `condition` clamped. Returns (ChainState, Target).
    `cache`: blocks whose moves split the energy evaluate its static part once per point (see
    `Memo`); a static part nothing moves (clamped x) is then evaluated once per run. Without
    `cache`, with whole variables clamped, an energy that can `specialize` evaluates what
    depends on them alone once per run. Either way the chains are the same up to float
    rounding. `runner`: what runs the sweeps, `(schedule, state, target, generator, sweeps,
    callback) -> state` (default `Schedule.run`; runtime/sampling/capture.py's runs them as
    graphs)."""
    generator = torch.Generator(device=device).manual_seed(seed)
    return run_conditioned(
        energy, variables, sampler, chains, generator, sweeps, condition, stats, device, fuse,
        callback, specialize, cache, runner,
    )  # fmt: skip


def run_conditioned(
    energy,
    variables: dict,
    sampler: dict,
    chains: int,
    generator,
    sweeps: int | None = None,
    condition: dict | None = None,
    stats: dict | None = None,
    device="cpu",
    fuse: bool = True,
    callback=None,
    specialize: bool = True,
    cache: bool = True,
    runner=None,
    start: dict | None = None,
):
    """`sample_chains` drawing from a caller's `generator` (training keeps one across steps);
    `start` ({name: [chains, ...]}) replaces the init draws of some variables (persistent
    chains continue from it; the init draws are made all the same, so the stream is the same)."""
    values = initial_values(sampler["inits"], variables, chains, generator, stats, device)
    values.update(start or {})
    clamped, free, fixed = condition_masks(condition or {}, variables, chains, device)
    for name, value in clamped.items():
        if name in fixed:
            values[name] = value.clone()
        else:
            mask = free[name]
            keep = mask.reshape(mask.shape + (1,) * (values[name].dim() - mask.dim()))
            values[name] = torch.where(keep, values[name], value)
    if specialize and not cache and fixed and hasattr(energy, "specialize"):
        energy = energy.specialize({name: values[name] for name in fixed})
    schedule = build_schedule(sampler["blocks"], variables, fixed, fuse)
    total = sampler["sweeps"] if sweeps is None else sweeps
    if sampler.get("temperatures"):
        return run_tempered(energy, variables, sampler, schedule, values, free, fixed, stats,
                         generator, total, callback)  # fmt: skip
    target = Target(energy, variables, free, fixed, cache and fuse, stats)
    state = schedule.start(values)
    if runner is not None:
        return runner(schedule, state, target, generator, total, callback), target
    return schedule.run(state, target, generator, total, callback), target


def run_tempered(energy, variables, sampler, schedule, values, free, fixed, stats, generator, total,
              callback, hot: dict | None = None):  # fmt: skip
    """`run_conditioned` with parallel tempering (runtime/sampling/tempering.py): every chain
    replicated at each of the sampler's temperatures, the replicas at b < 1 starting from `hot`
    ({name: [(R - 1) * B, ...]}, replica-major) where given, else from the chains' `values`.
    Returns the b = 1 chains and a `TemperedTarget` whose `swap_rates` say how often neighbours
    exchanged and whose `hot` holds the b < 1 replicas after the run."""
    chains = next(iter(values.values())).shape[0]
    device = next(iter(values.values())).device
    replicas = len(sampler["temperatures"])
    tempering = Tempering(schedule, energy, sampler["temperatures"], chains, device)
    # Every replica's kernels see b * f; the energy's cached splits do not apply to b * f.
    target = TemperedTarget(Scaled(energy, tempering.betas), variables,
                            replicate(free, replicas), fixed, False, stats)  # fmt: skip
    if hot is None:
        start = replicate(values, replicas)
    else:
        start = {n: torch.cat([v, hot[n]]) for n, v in values.items()}
    state = tempering.run(schedule.start(start), target, generator, total, callback)
    target.swap_rates = tempering.rates()
    target.hot = {n: v[chains:] for n, v in state.point.values.items()}
    return tempering.cold(state), target


def acceptance(state: KernelState) -> torch.Tensor:
    """Mean acceptance rate of one block over its steps and chains (a 0-d tensor, on device)."""
    return state.accepted.mean() / max(state.steps, 1)
