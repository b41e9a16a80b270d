"""Parallel tempering: a sampler's chains replicated at several temperatures, neighbours swapping.

In: a `Schedule`, the energy f, the sampler's inverse temperatures b_0 = 1 > b_1 > ... > b_{R-1}
(`temperatures = [...]` in the sampler block), the chain count B and a `torch.Generator`. Out:
the chains at b = 1 (a `ChainState` of B chains, as an untempered run returns) and the swap
acceptance rate of each neighbouring pair.

Each of the B chains has R replicas, one per temperature, held as one batch of R * B chains
(replica-major: replica r of chain b is row r * B + b), so a sweep of the spec's kernels moves
them all at once on b_row * f (clamped variables stay clamped in every replica). After every
sweep, neighbouring replicas propose to exchange their states - pairs (0, 1), (2, 3), ... after
even sweeps, (1, 2), (3, 4), ... after odd ones (the deterministic even-odd scheme, Lingenheil
et al. 2009) - accepted with probability min(1, exp((b_r - b_{r+1}) (f(x_{r+1}) - f(x_r)))),
which leaves the product of the tempered distributions invariant; so the b = 1 replicas sample
p. Hot replicas cross the barriers between well-separated modes that the cold chain alone would
not, and swaps carry those crossings down. Torch-only: the body below the marker is copied into
emitted modules (before schedule.py's, which uses it).
"""

from __future__ import annotations

import torch

from ebmspec.runtime.sampling.kernels.base import KernelState, Point, Target
from ebmspec.runtime.sampling.kernels.draws import uniform

# --- begin standalone ---


class Scaled:
    """b * f per chain: `betas` [R * B] (the kernels' target at each replica's temperature)."""

    def __init__(self, energy, betas: torch.Tensor):
        self.energy = energy
        self.betas = betas

    def __call__(self, values: dict) -> torch.Tensor:
        f = self.energy(values)
        return self.betas.to(f.dtype) * f


class TemperedTarget(Target):
    """The Target of a tempered run; `swap_rates` ([R - 1], filled by the run) says how often
    each neighbouring pair exchanged, `hot` ({name: [(R - 1) * B, ...]}, replica-major) holds
    the replicas at b < 1 after it (persistent chains carry them to their next run)."""

    swap_rates: torch.Tensor | None = None
    hot: dict | None = None


def replicate(tensors: dict, replicas: int) -> dict:
    """{name: [B, ...]} -> {name: [R * B, ...]}, replica-major."""
    return {
        n: None if t is None else t.repeat(replicas, *([1] * (t.dim() - 1)))
        for n, t in tensors.items()
    }


class Tempering:
    """Runs a schedule's sweeps on the replicas and the swaps between them (module docstring)."""

    def __init__(self, schedule, energy, temperatures, chains: int, device=None):
        self.schedule = schedule
        self.energy = energy
        self.chains = chains
        self.replicas = len(temperatures)
        levels = torch.as_tensor(tuple(temperatures), dtype=torch.float32, device=device)
        self.levels = levels
        self.betas = levels.repeat_interleave(chains)
        self.proposed = torch.zeros(self.replicas - 1, device=device)
        self.accepted = torch.zeros(self.replicas - 1, device=device)

    def swap(self, state, generator, parity: int):
        """Propose exchanges between replicas r and r + 1 for every r of `parity`."""
        values = state.point.values
        with torch.no_grad():
            f = self.energy(values).reshape(self.replicas, self.chains)
        low = torch.arange(parity, self.replicas - 1, 2, device=f.device)
        if len(low) == 0:
            return state
        high = low + 1
        gap = (self.levels[low] - self.levels[high])[:, None]
        log_alpha = gap * (f[high] - f[low])
        u = uniform(log_alpha.shape, generator, f.device)
        take = torch.log(u) < log_alpha  # [pairs, B]
        self.proposed[low] += self.chains
        self.accepted[low] += take.sum(1).to(self.accepted.dtype)
        order = torch.arange(self.replicas * self.chains, device=f.device).reshape(
            self.replicas, self.chains
        )
        swapped = order.clone()
        swapped[low] = torch.where(take, order[high], order[low])
        swapped[high] = torch.where(take, order[low], order[high])
        index = swapped.reshape(-1)
        moved = {n: v[index] for n, v in values.items()}
        return state._replace(point=Point(moved, None, None))

    def run(self, state, target: Target, generator, sweeps: int, callback=None):
        for _ in range(sweeps):
            state = self.schedule.sweep(state, target, generator)
            state = self.swap(state, generator, (state.sweeps - 1) % 2)
            if callback is not None:
                callback(self.cold(state))
        return state

    def rates(self) -> torch.Tensor:
        """[R - 1] swap acceptance rate of each neighbouring pair so far."""
        return self.accepted / self.proposed.clamp_min(1)

    def cold(self, state):
        """The b = 1 replicas' chains (the first B rows) and their blocks' diagnostics."""
        b = self.chains
        values = {n: v[:b] for n, v in state.point.values.items()}
        kernels = tuple(_cold_kernel(k, b) for k in state.kernels)
        return state._replace(point=Point(values, None, None), kernels=kernels)


def _cold_kernel(state, chains: int):
    if isinstance(state, KernelState):
        return state._replace(accepted=state.accepted[:chains], hops=state.hops[:chains])
    if isinstance(state, tuple):  # a nested schedule's block states
        return tuple(_cold_kernel(s, chains) for s in state)
    return state
