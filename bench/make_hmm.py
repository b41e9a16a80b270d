"""Write `specs/data/hmm.csv`: label sequences from a known hidden Markov model and the symbols it
emits, the data of `specs/crf.ebm` (a linear-chain CRF learns p(labels | symbols) from them).

3 hidden states, 5 symbols, 20 positions, 2,500 sequences (the spec holds 20 % out as its test
split). Sticky transitions and overlapping emissions, so that decoding needs the chain: a
per-position classifier is wrong far more often than the exact posterior. Seeded: rerunning it
writes the same file. Columns: x0..x19 (symbols), y0..y19 (states).

Run: `python bench/make_hmm.py`.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

OUT = Path(__file__).resolve().parent.parent / "specs" / "data" / "hmm.csv"
START = np.array([1 / 3, 1 / 3, 1 / 3])
TRANSITION = np.array([[0.8, 0.15, 0.05], [0.1, 0.8, 0.1], [0.05, 0.15, 0.8]])
EMISSION = np.array(
    [
        [0.5, 0.3, 0.1, 0.05, 0.05],
        [0.1, 0.2, 0.4, 0.2, 0.1],
        [0.05, 0.05, 0.1, 0.3, 0.5],
    ]
)
LENGTH, COUNT = 20, 2500


def sample(count: int, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """(symbols, states), each [count, LENGTH] integers."""
    rng = np.random.default_rng(seed)
    states = np.zeros((count, LENGTH), dtype=int)
    symbols = np.zeros((count, LENGTH), dtype=int)
    for n in range(count):
        state = rng.choice(3, p=START)
        for t in range(LENGTH):
            if t:
                state = rng.choice(3, p=TRANSITION[state])
            states[n, t] = state
            symbols[n, t] = rng.choice(5, p=EMISSION[state])
    return symbols, states


def main() -> None:
    symbols, states = sample(COUNT)
    header = [f"x{t}" for t in range(LENGTH)] + [f"y{t}" for t in range(LENGTH)]
    rows = np.concatenate([symbols, states], axis=1)
    OUT.write_text(",".join(header) + "\n" + "\n".join(",".join(map(str, r)) for r in rows) + "\n")
    print(f"wrote {OUT} ({COUNT} sequences of {LENGTH})")


if __name__ == "__main__":
    main()
