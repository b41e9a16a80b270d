"""Convergence diagnostics of sampled chains: rank-normalised split R-hat, bulk and tail ESS, MCSE.

In: draws as a [chains, draws, elements] tensor (any device; `per_element` takes
[chains, draws, *shape] and goes through the elements in chunks), or, during a run, `Trace` (a
sampler callback keeping each free variable's per-chain mean per sweep on the chains' device).
Out, per element (Vehtari, Gelman, Simpson, Carpenter & Buerkner 2021, as Stan, PyMC, NumPyro and
ArviZ report them):

* `rhat`: rank-normalised split R-hat, the larger of the bulk and the tail value. Every chain is
  split in two halves (a middle draw of an odd length is dropped); for the bulk value all draws
  are replaced by the normal scores of their pooled ranks (ties share their average rank), for
  the tail value the same is done to their distances from the pooled median (chains that agree in
  the middle but not in their spread); each is R = sqrt((B / W + n - 1) / n), W the mean
  within-half variance, B / n the variance of the half means. About 1 when the chains agree;
  > 1.01 says they have not mixed. Needs 2 chains.
* `ess_bulk`: the effective sample size of the rank-normalised split chains, from their
  multi-chain autocorrelation (rho_t = 1 - (W - mean autocovariance_t) / var+), summed with
  Geyer's initial positive and monotone sequence as Stan truncates it: M n / tau.
* `ess_tail`: the smaller ESS of the indicators `draw <= q` for the 5 % and 95 % quantiles q of
  the pooled draws (R's type 7), split but not rank-normalised.
* `mcse_mean`: the Monte Carlo standard error of the mean, sd / sqrt(ESS of the split raw draws).

Each equals ArviZ's `rhat`, `ess(method="bulk" | "tail")` and `mcse(method="mean")` (which
`az.summary` reports) to float rounding, edge cases included (tests/runtime/sampling/
test_convergence.py and test_arviz.py): a series that takes one value throughout has ESS = its
number of (split) draws and R-hat NaN; chains each stuck at its own value have R-hat inf; fewer than
4 draws give NaN. One difference: for an odd number of draws `az.summary` folds the tail R-hat
around the median of the unsplit draws, `az.rhat` (and ebmspec) around that of the split ones.
"""

from __future__ import annotations

import math

import torch

DRAWN = 0.5  # share of the sweeps kept as draws by default (the rest is warm-up)
RESOLUTION = 1e-15  # NumPy's finfo(float).resolution: ArviZ's test for a constant series
MIXED = 1.01  # R-hat above this: the chains have not mixed
CHUNK = 1 << 22  # values per chunk of elements in `per_element` (float64 copies stay ~32 MB)
KEYS = ("rhat", "ess_bulk", "ess_tail", "mcse_mean")


def default_warmup(sweeps: int) -> int:
    """The sweeps discarded unless `--warmup` says otherwise: the first half (rounded up)."""
    return sweeps - int(sweeps * DRAWN)


class Trace:
    """A sampler callback keeping one summary per chain, sweep and free variable on the device (no
    host synchronisation per sweep): a real variable's mean over its elements, a categorical's
    mean code, a binary's mean. `draws` keeps the sweeps after `warmup` (default: the first half),
    every `thin`-th."""

    def __init__(self, variables: dict, names, warmup: int | None = None, thin: int = 1):
        self.variables = variables
        self.names = list(names)
        self.warmup, self.thin = warmup, thin
        self.rows: dict[str, list[torch.Tensor]] = {name: [] for name in self.names}

    def __call__(self, state) -> None:
        for name in self.names:
            value = state.point.values[name].detach()
            if self.variables[name].kind == "categorical":
                value = value.argmax(-1).to(torch.float64)
            self.rows[name].append(value.reshape(value.shape[0], -1).double().mean(1))

    def draws(self, name: str) -> torch.Tensor:
        """[chains, draws] of the kept sweeps."""
        trace = torch.stack(self.rows[name], 1)
        warmup = default_warmup(trace.shape[1]) if self.warmup is None else self.warmup
        return trace[:, warmup :: self.thin]

    def diagnostics(self) -> dict:
        """{variable: `summary` row of its mean}; empty with fewer than 4 draws."""
        found = {}
        for name in self.names:
            draws = self.draws(name) if self.rows[name] else None
            if draws is None or draws.shape[1] < 4:
                return {}
            found[name] = summary(
                {key: value.cpu() for key, value in diagnose(draws[..., None]).items()}, "mean"
            )
        return found


def summary(elements: dict, of: str) -> dict:
    """A variable's row from its per-element diagnostics ({key: tensor [*shape]}) of `of` ("mean":
    its per-chain mean, "elements": each element): the worst R-hat (NaN elements left out), how
    many elements exceed 1.01, the smallest bulk and tail ESS, and every element's values
    (flattened in C order) under "per_element"."""
    rhat = elements["rhat"].reshape(-1).double()
    defined = rhat[~rhat.isnan()]
    return {
        "of": of,
        "elements": rhat.numel(),
        "rhat": float(defined.max()) if defined.numel() else math.nan,
        "rhat_over_1_01": int((rhat > MIXED).sum()),
        "ess_bulk": _smallest(elements["ess_bulk"]),
        "ess_tail": _smallest(elements["ess_tail"]),
        "per_element": {key: elements[key].reshape(-1).tolist() for key in KEYS},
    }


def _smallest(values: torch.Tensor) -> float:
    values = values.reshape(-1)
    values = values[~values.isnan()]
    return float(values.min()) if values.numel() else math.nan


def per_element(draws: torch.Tensor) -> dict[str, torch.Tensor]:
    """{key: [*shape] float64} of [chains, draws, *shape] draws (any dtype), computed in chunks of
    elements so the float64 working copies stay small."""
    chains, count, *shape = draws.shape
    flat = draws.reshape(chains, count, -1)
    step = max(1, CHUNK // max(chains * count, 1))
    parts = [
        diagnose(flat[:, :, start : start + step].double())
        for start in range(0, flat.shape[2], step)
    ]
    return {key: torch.cat([p[key] for p in parts]).reshape(shape) for key in KEYS}


def diagnose(draws: torch.Tensor) -> dict[str, torch.Tensor]:
    """{"rhat", "ess_bulk", "ess_tail", "mcse_mean": [K]} of [chains M, draws N, elements K]."""
    m, n, k = draws.shape
    if n < 4:
        nan = torch.full((k,), math.nan, dtype=torch.float64, device=draws.device)
        return dict.fromkeys(KEYS, nan)
    # elements first, [K, M, N]: each element's values are contiguous for the sorts and the FFTs
    draws = draws.double().permute(2, 0, 1).contiguous()
    split = _split(draws)
    ordered, order = split.reshape(k, -1).sort(1)
    bulk = _rank_normal(ordered, order).reshape(split.shape)
    rhat = _rhat(bulk)
    folded = (split - _median(ordered)[:, None, None]).abs().reshape(k, -1)
    tail = _rhat(_rank_normal(*folded.sort(1)).reshape(split.shape))
    # as Python's max(bulk, tail): NaN bulk stays NaN, a NaN tail (0/1 draws around 0.5) is ignored
    rhat = torch.where(tail > rhat, tail, rhat)
    if m < 2:
        rhat = torch.full_like(rhat, math.nan)
    pooled = ordered if n % 2 == 0 else draws.reshape(k, -1).sort(1).values  # same values if even
    low, high = (
        _ess(_split((draws <= _quantile(pooled, p)[:, None, None]).double())) for p in (0.05, 0.95)
    )
    centred = draws - draws.mean((1, 2), keepdim=True)
    variance = (centred * centred).sum((1, 2)) / (m * n - 1)
    return {
        "rhat": rhat,
        "ess_bulk": _ess(bulk),
        "ess_tail": torch.where(high < low, high, low),  # as Python's min(low, high)
        "mcse_mean": torch.sqrt(variance / _ess(split)),
    }


def split_rhat(draws: torch.Tensor) -> float:
    """Rank-normalised split R-hat of [chains, draws]: max(bulk, tail)."""
    return float(diagnose(draws[..., None])["rhat"][0])


def bulk_ess(draws: torch.Tensor) -> float:
    """Bulk effective sample size of [chains, draws] (rank-normalised split chains)."""
    return float(diagnose(draws[..., None])["ess_bulk"][0])


def tail_ess(draws: torch.Tensor) -> float:
    """Tail effective sample size of [chains, draws] (the 5 % and 95 % quantile indicators)."""
    return float(diagnose(draws[..., None])["ess_tail"][0])


def mcse_mean(draws: torch.Tensor) -> float:
    """Monte Carlo standard error of the mean of [chains, draws]."""
    return float(diagnose(draws[..., None])["mcse_mean"][0])


def _split(draws: torch.Tensor) -> torch.Tensor:
    """[K, M, N] -> [K, 2M, N // 2]: the first and second half of every chain (a middle draw of
    an odd length is dropped)."""
    half = draws.shape[2] // 2
    return torch.cat([draws[:, :, :half], draws[:, :, draws.shape[2] - half :]], 1)


def rank_normal(draws: torch.Tensor) -> torch.Tensor:
    """Normal scores Phi^-1((r - 3/8) / (S + 1/4)) of the ranks r of all S values (ties: average
    rank), in the shape of `draws`."""
    return _rank_normal(*draws.double().reshape(1, -1).sort(1)).reshape(draws.shape)


def _rank_normal(ordered: torch.Tensor, order: torch.Tensor) -> torch.Tensor:
    """[K, S] normal scores of each row's ranks, from the row sorted (`ordered`, and `order`,
    where each sorted value came from): a run of equal values shares the average of its ranks."""
    count = ordered.shape[1]
    index = torch.arange(count, device=ordered.device).expand_as(ordered)
    starts = torch.ones_like(ordered, dtype=torch.bool)
    starts[:, 1:] = ordered[:, 1:] != ordered[:, :-1]
    ends = torch.ones_like(starts)
    ends[:, :-1] = starts[:, 1:]
    first = torch.cummax(torch.where(starts, index, 0), 1).values  # where each run starts
    last = torch.cummin(torch.where(ends, index, count).flip(1), 1).values.flip(1)  # and ends
    rank = (first + last).to(torch.float64) / 2 + 1
    scores = torch.special.ndtri((rank - 0.375) / (count + 0.25))
    return torch.empty_like(scores).scatter_(1, order, scores)


def _median(ordered: torch.Tensor) -> torch.Tensor:
    """[K] medians of the sorted rows [K, S], the mean of the two middle values for an even
    count (as NumPy's; torch's `median` returns the lower one)."""
    count = ordered.shape[1]
    return (ordered[:, (count - 1) // 2] + ordered[:, count // 2]) / 2


def _quantile(ordered: torch.Tensor, p: float) -> torch.Tensor:
    """[K] p-quantiles of the sorted rows [K, S], R's type 7, computed as SciPy's
    `mquantiles(alphap=1, betap=1)` (ArviZ's) computes it, so that `draw <= q` agrees."""
    count = ordered.shape[1]
    aleph = count * p + (1.0 + p * (1.0 - 1.0 - 1.0))
    index = math.floor(min(max(aleph, 1), count - 1))
    gamma = min(max(aleph - index, 0.0), 1.0)
    return (1.0 - gamma) * ordered[:, index - 1] + gamma * ordered[:, index]


def _rhat(chains: torch.Tensor) -> torch.Tensor:
    """[K] R-hat of [K, M, N] (already split, rank-normalised) chains; inf when every chain is
    constant at its own value, NaN when all are at one value."""
    n = chains.shape[2]
    between = n * chains.mean(2).var(1, correction=1)
    within = chains.var(2, correction=1).mean(1)
    return torch.sqrt((between / within + n - 1) / n)


def _ess(chains: torch.Tensor) -> torch.Tensor:
    """[K] effective sample sizes of [K, M, N] (already split) chains."""
    k, m, n = chains.shape
    centred = chains - chains.mean(2, keepdim=True)
    size = 1 << (2 * n - 1).bit_length()  # zero padding: the linear, not circular, correlation
    spectrum = torch.fft.rfft(centred, size)
    acov = (torch.fft.irfft(spectrum * spectrum.conj(), size)[..., :n] / n).mean(1)  # [K, n]
    within = acov[:, 0] * n / (n - 1)
    plus = within * (n - 1) / n + chains.mean(2).var(1, correction=1)
    rho = 1 - (within[:, None] - acov) / plus[:, None]
    rho[:, 0] = 1.0  # as Stan (the formula gives 1 - W / (n var+) at lag 0)
    # Geyer, as Stan truncates it: pairs P_k = rho_2k + rho_2k+1 for k <= (n - 3) / 2; the sum
    # stops before the first P_k <= 0 (`stop`), the kept pairs are made monotone (a running
    # minimum), and rho_2stop is added once when positive, or when its pair was kept (>= 0).
    last = max((n - 3) // 2, 0)
    rho = rho[:, : 2 * (last + 1)]
    pairs = rho.reshape(k, last + 1, 2).sum(2)
    bad = pairs <= 0
    stop = torch.where(bad.any(1), bad.to(torch.uint8).argmax(1), last)[:, None]
    before = torch.arange(last + 1, device=chains.device) < stop
    kept = torch.where(before, torch.cummin(pairs, 1).values, 0.0).sum(1)
    even = rho.gather(1, 2 * stop)[:, 0]
    pair = pairs.gather(1, stop)[:, 0]
    even = torch.where((even > 0) | ((stop[:, 0] >= 1) & (pair >= 0)), even, 0.0)
    tau = (-1 + 2 * kept + even).clamp(min=1 / math.log10(m * n))  # as Stan: bounds the ESS
    ess = torch.where(rho.isnan().any(1), math.nan, m * n / tau)
    constant = chains.amax((1, 2)) - chains.amin((1, 2)) < RESOLUTION
    return torch.where(constant, float(m * n), ess)
