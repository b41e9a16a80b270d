"""Convergence diagnostics of a sampling run: rank-normalised split-R-hat and bulk ESS.

In: per-sweep summaries of each free variable, collected by `Trace` (a sampler callback) on the
chains' device: a real variable's mean over its elements, a categorical's mean code, a binary's
mean, one number per chain and sweep. Out, per variable, computed on the device at the end
(Vehtari, Gelman, Simpson, Carpenter & Buerkner 2021, as Stan, PyMC and NumPyro report them):

* `rhat`: rank-normalised split-R-hat, the larger of the bulk and the tail value. The draws
  (the second half of the sweeps: the first half is warm-up) of every chain are split in two
  halves; for the bulk value all draws are replaced by the normal scores of their pooled ranks
  (ties share their average rank), for the tail value the same is done to their distances from
  the pooled median (chains that agree in the middle but not in their spread); each is
  R = sqrt(((n - 1) / n * W + B / n) / W), W the mean within-half variance, B / n the variance of
  the half means. About 1 when the chains agree; > 1.01 says they have not mixed.
* `ess_bulk`: the effective sample size of the rank-normalised split chains, from their
  multi-chain autocorrelation (rho_t = 1 - (W - mean autocovariance_t) / var+), summed with
  Geyer's initial positive and monotone sequence as Stan truncates it; M n / tau.

Both agree with ArviZ's `rhat` and `ess(method="bulk")` to float rounding
(tests/runtime/sampling/test_convergence.py, on the stored chains of
tests/runtime/sampling/arviz_reference.json). NaN for a variable that takes one value throughout
(nothing to compare); R-hat inf and ESS NaN when every chain is stuck at its own value.
"""

from __future__ import annotations

import math

import torch

DRAWN = 0.5  # share of the sweeps kept as draws (the rest is warm-up)


class Trace:
    """A sampler callback keeping one summary per chain, sweep and free variable, on the device
    (no host synchronisation per sweep)."""

    def __init__(self, variables: dict, names):
        self.variables = variables
        self.names = list(names)
        self.rows: dict[str, list[torch.Tensor]] = {name: [] for name in self.names}

    def __call__(self, state) -> None:
        for name in self.names:
            value = state.point.values[name].detach()
            if self.variables[name].kind == "categorical":
                value = value.argmax(-1).to(torch.float64)
            self.rows[name].append(value.reshape(value.shape[0], -1).double().mean(1))

    def draws(self, name: str) -> torch.Tensor:
        """[chains, draws] of the kept (second) half of the sweeps."""
        trace = torch.stack(self.rows[name], 1)
        return trace[:, trace.shape[1] - int(trace.shape[1] * DRAWN) :]

    def diagnostics(self) -> dict:
        """{variable: {"rhat": float, "ess_bulk": float}}; empty with fewer than 4 draws."""
        found = {}
        for name in self.names:
            if len(self.rows[name]) * DRAWN < 4:
                return {}
            draws = self.draws(name)
            found[name] = {"rhat": split_rhat(draws), "ess_bulk": bulk_ess(draws)}
        return found


def _split(draws: torch.Tensor) -> torch.Tensor:
    """[M, N] -> [2M, N // 2]: the first and second half of every chain (a middle draw of an odd
    length is dropped)."""
    half = draws.shape[1] // 2
    return torch.cat([draws[:, :half], draws[:, draws.shape[1] - half :]])


def rank_normal(draws: torch.Tensor) -> torch.Tensor:
    """Normal scores Phi^-1((r - 3/8) / (S + 1/4)) of the pooled ranks r (ties: average rank)."""
    flat = draws.reshape(-1)
    values, inverse, counts = torch.unique(flat, return_inverse=True, return_counts=True)
    start = torch.cumsum(counts, 0) - counts  # ranks before each distinct value
    rank = (start + (counts + 1) / 2).to(torch.float64)[inverse]
    p = (rank - 0.375) / (flat.numel() + 0.25)
    return (math.sqrt(2) * torch.erfinv(2 * p - 1)).reshape(draws.shape)


def _variances(chains: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """(W, var+) of [M, N] chains."""
    n = chains.shape[1]
    within = chains.var(1, correction=1).mean()
    between_over_n = chains.mean(1).var(correction=1)
    return within, (n - 1) / n * within + between_over_n


def _median(values: torch.Tensor) -> torch.Tensor:
    """The median, the mean of the two middle values for an even count (as NumPy's; torch's
    `median` returns the lower one)."""
    ordered = values.reshape(-1).sort().values
    count = ordered.numel()
    return (ordered[(count - 1) // 2] + ordered[count // 2]) / 2


def _rhat(chains: torch.Tensor) -> float:
    """R-hat of [M, N] (already split, rank-normalised) chains."""
    within, plus = _variances(chains)
    if not float(within) > 0:  # every chain constant: stuck (inf) if they differ, else nothing
        return math.inf if float(plus) > 0 else math.nan
    return float(torch.sqrt(plus / within))


def split_rhat(draws: torch.Tensor) -> float:
    """Rank-normalised split-R-hat of [chains, draws]: max(bulk, tail)."""
    split = _split(draws.double())
    bulk = _rhat(rank_normal(split))
    tail = _rhat(rank_normal((split - _median(split)).abs()))
    # the tail value is NaN where the distances are all equal (0/1 draws around 0.5)
    return bulk if math.isnan(bulk) or math.isnan(tail) else max(bulk, tail)


def bulk_ess(draws: torch.Tensor) -> float:
    """Bulk effective sample size of [chains, draws] (rank-normalised split chains)."""
    chains = rank_normal(_split(draws.double()))
    m, n = chains.shape
    within, plus = _variances(chains)
    if not float(within) > 0:
        return math.nan
    centred = chains - chains.mean(1, keepdim=True)
    size = 1 << (2 * n - 1).bit_length()  # zero padding: the linear, not circular, correlation
    spectrum = torch.fft.rfft(centred, size)
    acov = torch.fft.irfft(spectrum * spectrum.conj(), size)[:, :n] / n  # biased, per chain
    rho = 1 - (within - acov.mean(0)) / plus
    rho[0] = 1.0  # as Stan (the formula gives 1 - W / (n var+) at lag 0)
    if torch.isnan(rho).any():
        return math.nan
    # Geyer, as Stan truncates it: pairs P_k = rho_2k + rho_2k+1 for k < (n - 2) / 2; the sum
    # stops before the first P_k <= 0 (k >= 1), the kept pairs are made monotone (a running
    # minimum), and the even term of the pair that stopped it is added once (when positive, or
    # when the pair was >= 0; after the last pair, whatever its sign).
    last = max((n - 3) // 2, 0)  # the last pair Stan computes
    pairs = rho[: 2 * (last + 1)].reshape(-1, 2).sum(1) if n >= 2 else rho[:1]
    bad = (pairs[1 : last + 1] <= 0).nonzero()
    stop = int(bad[0]) + 1 if len(bad) else last
    kept = torch.cummin(pairs[:stop], 0).values if stop else pairs[:0]
    even = rho[2 * stop]
    if len(bad) and float(pairs[stop]) < 0:
        even = even.clamp(min=0)
    tau = -1 + 2 * kept.sum() + even
    tau = torch.clamp(tau, min=1 / math.log10(m * n))  # as Stan: an upper bound on the ESS
    return float(m * n / tau)
