"""Write `specs/data/ising4.csv`: exact samples of a 4 x 4 Ising torus with known random couplings,
the data of `specs/inverse_ising.ebm` (which learns the couplings back).

p(s) ∝ exp(sum_ij H_ij z_ij z_i(j+1) + V_ij z_ij z_(i+1)j), z = 2s - 1, indices mod 4; H and V
drawn once, uniform in [-0.6, 0.6] (seed 0). 11,111 rows drawn i.i.d. from the enumerated law of
all 65,536 states: the spec holds 10 % out, so it trains on 10,000 exact samples. Columns
s0..s15, row-major. Seeded: rerunning it writes the same file.

Run: `python bench/make_ising.py`.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

OUT = Path(__file__).resolve().parent.parent / "specs" / "data" / "ising4.csv"
ROWS = 11_111
_rng = np.random.default_rng(0)
H = _rng.uniform(-0.6, 0.6, (4, 4))  # couples (i, j) with (i, j + 1)
V = _rng.uniform(-0.6, 0.6, (4, 4))  # couples (i, j) with (i + 1, j)


def states() -> np.ndarray:
    """[65536, 4, 4] every state as 0/1, state k's site m = bit m of k."""
    codes = np.arange(2**16)[:, None] >> np.arange(16) & 1
    return codes.reshape(-1, 4, 4)


def log_weights(s: np.ndarray) -> np.ndarray:
    z = 2.0 * s - 1
    right, down = np.roll(z, -1, axis=2), np.roll(z, -1, axis=1)
    return (H * z * right + V * z * down).sum((1, 2))


def main() -> None:
    every = states()
    weights = np.exp(log_weights(every) - log_weights(every).max())
    rng = np.random.default_rng(1)
    rows = every[rng.choice(len(every), size=ROWS, p=weights / weights.sum())].reshape(ROWS, 16)
    header = ",".join(f"s{m}" for m in range(16))
    OUT.write_text(header + "\n" + "\n".join(",".join(map(str, r)) for r in rows) + "\n")
    print(f"wrote {OUT} ({ROWS} exact samples)")


if __name__ == "__main__":
    main()
