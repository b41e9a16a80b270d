"""Regenerates `arviz_reference.json`: stored chains and ArviZ's R-hat, bulk and tail ESS and MCSE.

Run with ArviZ and NumPy installed (not ebmspec's dependencies; any environment):
`python tests/runtime/sampling/arviz_reference.py`. The chains are drawn with NumPy's seeded
generator and stored as they are, so `test_convergence.py` compares ebmspec's diagnostics with
ArviZ's on the very same numbers without ArviZ installed. ArviZ's `rhat` default (method "rank": the
larger of the rank-normalised split-R-hat of the draws and of their distances from the median,
Vehtari et al. 2021), `ess(method="bulk")`, `ess(method="tail")` and `mcse(method="mean")`.
"""

from __future__ import annotations

import json
from pathlib import Path

import arviz
import numpy as np


def _ar1(rng, chains: int, draws: int, phi: float) -> np.ndarray:
    x = np.empty((chains, draws))
    x[:, 0] = rng.normal(size=chains) / np.sqrt(1 - phi**2)
    for i in range(1, draws):
        x[:, i] = phi * x[:, i - 1] + rng.normal(size=chains)
    return x


def cases() -> dict[str, np.ndarray]:
    rng = np.random.default_rng(20261129)
    sticky = np.cumsum(rng.random((4, 150)) < 0.1, axis=1) % 4  # codes that change rarely
    scales = np.array([1.0, 1.0, 1.0, 4.0])[:, None]
    return {
        "independent": rng.normal(size=(4, 200)),
        "ar1_phi_0.9_odd_length": _ar1(rng, 4, 301, 0.9),
        "means_apart": rng.normal(size=(4, 200)) + 0.5 * np.arange(4)[:, None],
        "trend": rng.normal(size=(4, 200)) + np.linspace(0, 3, 200),
        "bits_with_ties": (rng.random((4, 200)) < 0.3).astype(float),
        "sticky_codes": sticky.astype(float),
        "scales_apart": rng.standard_t(3, size=(4, 200)) * scales,  # the tail R-hat sees it
    }


def main() -> None:
    out = {"arviz": arviz.__version__, "cases": {}}
    for name, draws in cases().items():
        draws = np.round(draws, 6)  # stored as printed: the reference is of these numbers
        out["cases"][name] = {
            "draws": draws.tolist(),
            "rhat": float(arviz.rhat(draws)),
            "ess_bulk": float(arviz.ess(draws, method="bulk")),
            "ess_tail": float(arviz.ess(draws, method="tail")),
            "mcse_mean": float(arviz.mcse(draws, method="mean")),
        }
    path = Path(__file__).with_name("arviz_reference.json")
    path.write_text(json.dumps(out) + "\n", encoding="utf-8")
    print(f"wrote {path}")


if __name__ == "__main__":
    main()
