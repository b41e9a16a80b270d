"""ebmspec's R-hat, bulk and tail ESS and MCSE of every element against ArviZ itself, to 1e-6.

Skipped without ArviZ (the extra `ebmspec[traces]`; CI's step for it installs it and runs this
file). A table of [chains, draws] series (normal, AR(1), random walks, 0/1 draws with heavy ties,
rare events, sticky codes, heavy tails, one chain apart in spread, constants, chains stuck at their
own values), at several chain and draw counts (odd ones included), batched as the elements of
one [chains, draws, K] array: each element equals ArviZ's `rhat`, `ess(method="bulk" | "tail")`
and `mcse(method="mean")` of that element alone, and `az.summary` of the same array as
`InferenceData` (an even draw count: for an odd one `az.summary` folds its tail R-hat around
another median, see convergence.py).
"""

from __future__ import annotations

import math
import warnings

import numpy as np
import pytest
import torch

from ebmspec.runtime.sampling.convergence import diagnose

az = pytest.importorskip("arviz")


def same(ours: float, theirs: float) -> bool:
    """Equal to 1e-6 (relative, absolute near 0), or both NaN. Chains stuck at their own values
    have R-hat inf here; NumPy's variance of a constant chain can come out a rounding error above
    0, which makes ArviZ's a finite number above 1e12."""
    if math.isnan(theirs) or math.isnan(ours):
        return math.isnan(theirs) and math.isnan(ours)
    if math.isinf(ours):
        return theirs == ours or theirs > 1e12
    return abs(ours - theirs) <= 1e-6 * max(1.0, abs(theirs))


def table(chains: int, draws: int, seed: int) -> np.ndarray:
    """[chains, draws, K] of the series named in the module docstring."""
    rng = np.random.default_rng(seed)
    ar = np.empty((chains, draws))
    ar[:, 0] = rng.normal(size=chains) / math.sqrt(1 - 0.8**2)
    for i in range(1, draws):
        ar[:, i] = 0.8 * ar[:, i - 1] + rng.normal(size=chains)
    spread = np.ones((chains, 1))
    spread[-1] = 4.0
    series = [
        rng.normal(size=(chains, draws)),
        ar,
        np.cumsum(rng.normal(size=(chains, draws)), 1) * 0.1,
        (rng.random((chains, draws)) < 0.3).astype(float),
        (rng.random((chains, draws)) < 0.02).astype(float),
        np.cumsum(rng.random((chains, draws)) < 0.1, axis=1) % 4 * 1.0,
        rng.integers(0, 3, size=(chains, draws)).astype(float),
        rng.standard_t(3, size=(chains, draws)) * spread,
        np.round(rng.normal(size=(chains, draws)), 1),
        np.full((chains, draws), 2.5),
        np.arange(chains)[:, None] * np.ones((chains, draws)),
    ]
    return np.stack(series, -1)


SHAPES = [(4, 200), (4, 301), (2, 8), (3, 5), (8, 1000), (4, 4), (16, 7), (1, 50)]


@pytest.mark.parametrize(("chains", "draws"), SHAPES)
def test_every_element_equals_arvizs_functions(chains, draws):
    values = table(chains, draws, seed=chains * 1000 + draws)
    ours = {k: v.tolist() for k, v in diagnose(torch.tensor(values)).items()}
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # ArviZ warns about one chain and constant series
        for element in range(values.shape[2]):
            series = values[..., element]
            theirs = {
                "rhat": az.rhat(series),
                "ess_bulk": az.ess(series, method="bulk"),
                "ess_tail": az.ess(series, method="tail"),
                "mcse_mean": az.mcse(series, method="mean"),
            }
            for key, value in theirs.items():
                assert same(ours[key][element], float(value)), (element, key)


@pytest.mark.parametrize(("chains", "draws"), [(4, 200), (2, 8), (8, 1000), (6, 12)])
def test_every_element_equals_az_summary(chains, draws):
    values = table(chains, draws, seed=draws)
    ours = {k: v.tolist() for k, v in diagnose(torch.tensor(values)).items()}
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        idata = az.from_dict(posterior={"v": values})
        found = az.summary(idata, round_to="none")
    columns = {"rhat": "r_hat", "ess_bulk": "ess_bulk", "ess_tail": "ess_tail"}
    columns["mcse_mean"] = "mcse_mean"
    for element in range(values.shape[2]):
        row = found.loc[f"v[{element}]"]
        for key, column in columns.items():
            assert same(ours[key][element], float(row[column])), (element, key)
