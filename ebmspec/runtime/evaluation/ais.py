"""Annealed importance sampling: log Z of any spec's energy, and the test log-likelihood from it.

In: an energy module f (p(v) = exp f(v) / Z), the variable table, a sampler table (the spec's
kernels, `runtime.sampling.sampler.sampler_table`), the data statistics and a `torch.Generator`.
Out: `AisResult` - log Z by forward AIS (a stochastic lower bound: E[log Z_hat] <= log Z) and,
from data, by reverse AIS (a stochastic upper bound when the data are draws of the model), each
with a standard error over independent runs.

The path is geometric, log g_b(v) = b f(v) + (1 - b) log p0(v), from a normalised base p0 (the
sampler's init distribution, `Base`) to the model, over `temperatures` values of b on the
sigmoid schedule of Grosse et al. (2013) (dense near both ends). At each b the chains make one
sweep of the spec's own kernels on g_b. Forward (Neal 2001): v ~ p0, log w = sum_k
(b_k - b_{k-1}) (f - log p0)(v_{k-1}), log Z_hat = log mean w. Reverse (Grosse et al. 2016,
BDMC): the same path walked back from v ~ p (data), log w' = sum_k (b_{k-1} - b_k) (f - log p0),
E[w'] = 1 / Z, log Z_hat' = -log mean w'. The two bracket log Z in expectation when the
kernels leave each g_b invariant (Metropolis-corrected or exact Gibbs kernels; unadjusted
Langevin only approximately) and, for reverse, when the data are the model's own draws - for a
trained model the data are only close to them, so its upper bound is approximate.
"""

from __future__ import annotations

import math
from typing import NamedTuple

import torch

from ebmspec.runtime.sampling.base_density import Base
from ebmspec.runtime.sampling.kernels.base import Point, Target
from ebmspec.runtime.sampling.schedule import ChainState, build_schedule


def sigmoid_schedule(temperatures: int, sharpness: float = 4.0) -> torch.Tensor:
    """`temperatures` + 1 inverse temperatures from 0 to 1, float64: sigmoid(d (2k/K - 1))
    rescaled to [0, 1] (Grosse et al. 2013), so the steps are small where log w moves most."""
    k = torch.linspace(-sharpness, sharpness, temperatures + 1, dtype=torch.float64)
    s = torch.sigmoid(k)
    return (s - s[0]) / (s[-1] - s[0])


class Tempered:
    """log g_b = b f + (1 - b) log p0 as an energy the kernels sample (`beta` set per step)."""

    def __init__(self, energy, base: Base):
        self.energy = energy
        self.base = base
        self.beta = 0.0

    def __call__(self, values: dict) -> torch.Tensor:
        f = self.energy(values)
        return self.beta * f + (1.0 - self.beta) * self.base.log_prob(values).to(f.dtype)


class AisResult(NamedTuple):
    """log Z (mean of the pooled weights), its standard error over `runs` independent runs,
    each run's estimate, and the effective sample size of the pooled weights (of the chains)."""

    log_z: float
    stderr: float
    per_run: list
    ess: float
    chains: int


def _summary(log_w: torch.Tensor, runs: int, sign: float) -> AisResult:
    """Per-run log mean exp of the weights (sign -1: reverse AIS estimates -log Z)."""
    count = log_w.shape[0]
    runs = max(1, min(runs, count))
    per = count // runs
    grouped = log_w[: runs * per].reshape(runs, per)
    per_run = sign * (torch.logsumexp(grouped, 1) - math.log(per))
    pooled = sign * (torch.logsumexp(log_w, 0) - math.log(count))
    stderr = float(per_run.std() / math.sqrt(runs)) if runs > 1 else float("nan")
    normalised = torch.softmax(log_w, 0)
    ess = float(1.0 / (normalised**2).sum())
    return AisResult(float(pooled), stderr, [float(v) for v in per_run], ess, count)


class Annealer:
    """The spec's kernels on the geometric path from `base` to `energy`."""

    def __init__(self, energy, variables: dict, sampler: dict, base: Base, stats=None):
        self.energy = energy
        self.variables = variables
        self.base = base
        self.tempered = Tempered(energy, base)
        self.schedule = build_schedule(sampler["blocks"], variables)
        self.target = Target(self.tempered, variables, cache=False, stats=stats)

    @torch.no_grad()
    def gap(self, values: dict) -> torch.Tensor:
        """(f - log p0)(v) per chain, float64: d log g_b / d b."""
        f = self.energy(values).double()
        return f - self.base.log_prob(values).double()

    def _sweep(self, state: ChainState, beta: float, generator) -> ChainState:
        self.tempered.beta = beta
        # f and its gradients held by the point are of the previous temperature's g_b.
        fresh = ChainState(Point(state.point.values, None, None), state.kernels, state.sweeps)
        return self.schedule.sweep(fresh, self.target, generator)

    def forward(self, chains: int, betas: torch.Tensor, generator, device, progress=None):
        """[chains] log weights of forward AIS from `chains` base draws, and the last values."""
        values = self.base.sample(chains, generator, device)
        state = self.schedule.start(values)
        log_w = torch.zeros(chains, dtype=torch.float64, device=device)
        steps = len(betas) - 1
        for k in range(1, steps + 1):
            log_w += float(betas[k] - betas[k - 1]) * self.gap(state.point.values)
            if k < steps:
                state = self._sweep(state, float(betas[k]), generator)
            if progress is not None:
                progress(k, steps)
        return log_w, {n: v.detach() for n, v in state.point.values.items()}

    def reverse(self, values: dict, betas: torch.Tensor, generator, progress=None):
        """[chains] log weights of reverse AIS started at `values` (draws of the model)."""
        state = self.schedule.start({n: v.detach() for n, v in values.items()})
        chains = next(iter(values.values())).shape[0]
        device = next(iter(values.values())).device
        log_w = torch.zeros(chains, dtype=torch.float64, device=device)
        steps = len(betas) - 1
        for done, k in enumerate(range(steps, 0, -1), start=1):
            if k < steps:  # at b = 1 the data already are (approximately) the model's draws
                state = self._sweep(state, float(betas[k]), generator)
            log_w += float(betas[k - 1] - betas[k]) * self.gap(state.point.values)
            if progress is not None:
                progress(done, steps)
        return log_w


def ais_log_z(
    energy,
    variables: dict,
    sampler: dict,
    base: Base,
    temperatures: int,
    runs: int,
    chains: int,
    generator,
    device="cpu",
    stats=None,
    reverse_from: dict | None = None,
    progress=None,
) -> dict:
    """Forward AIS with `runs` x `chains` chains (one batch), and reverse AIS from
    `reverse_from` ({name: [N, ...]} draws of the model, every variable) when given.
    Returns {"forward": AisResult, "reverse": AisResult | None}."""
    annealer = Annealer(energy, variables, sampler, base, stats)
    betas = sigmoid_schedule(temperatures)
    total = temperatures * (2 if reverse_from is not None else 1)

    def part(offset):
        if progress is None:
            return None
        return lambda done, _steps: progress(offset + done, total)

    log_w, _ = annealer.forward(runs * chains, betas, generator, device, part(0))
    result = {"forward": _summary(log_w, runs, 1.0), "reverse": None}
    if reverse_from is not None:
        back = annealer.reverse(reverse_from, betas, generator, part(temperatures))
        result["reverse"] = _summary(back, runs, -1.0)
    return result
