"""Samplers side by side on a strongly coupled mixed model with an exact answer.

In: the exactness suite's `lattice` model (tests/runtime/sampling/ground_truth.py): 16 Gaussian
components at m(a, b) = (3a - 4.5, 3b - 4.5) with standard deviation 0.3 (10 sigma apart), labels a,
b in 0..3 and x in R^2, so a label change is only plausible once x has crossed to a neighbouring
component; its exact law (labels x binned x) is known in closed form. Each schedule runs 4,096
chains from the spec's init. Out, one row per schedule: TV of the chains' (a, b, binned x) table
against the exact one, as a multiple of the i.i.d. Monte-Carlo floor, after 25 ... 2,000 sweeps;
the first checkpoint within 1.5x the floor; seconds per sweep; bulk ESS of the label code
a * 4 + b over the second half of the sweeps and ESS per second (`runtime/sampling/convergence.py`).
Last lines: `jump_vs_gwg_ess_per_s=` and `jump_vs_best_other_ess_per_s=` (ratios measured side
by side in this run).

Run: `python bench/samplers.py [--chains 4096] [--sweeps 2000] [--threads 1]` (about a minute).
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))  # the tests' ground truth

from ebmspec.runtime.sampling.convergence import bulk_ess, split_rhat
from ebmspec.runtime.sampling.kernels.jump import shift_key
from ebmspec.runtime.sampling.sampler import sample
from tests.runtime.sampling import ground_truth as gt

REAL = "mala(step = 0.02)"
SCHEDULES = {  # name -> the label block (the real block is REAL for all)
    "gwg + mala": "gwg",
    "gibbs + mala": "gibbs",
    "metropolis + mala": "metropolis repeat 3",
    "jump + mala": "jump",
    "jump(gibbs) + mala": "jump(gibbs = true)",
}
CHECKPOINTS = (25, 50, 100, 200, 500, 1000, 2000)


def shift_stats(energy) -> dict:
    """What `jump` reads: x's mean per joint value of (a, b), here the components' means."""
    codes = torch.cartesian_prod(torch.arange(4), torch.arange(4))  # rows a * 4 + b
    h = torch.cat([F.one_hot(codes[:, 0], 4), F.one_hot(codes[:, 1], 4)], 1).float()
    with torch.no_grad():
        means = energy.blocks["return_linear"](h)
    return {"x": {shift_key(("a", "b")): means}}


def run_schedule(label_kernel: str, chains: int, sweeps: int, seed: int) -> dict:
    program, energy = gt.build("lattice", label_kernel, REAL, sweeps)
    probs = gt.truth("lattice", energy, {}).probs[None]
    floor = gt.iid_floor(probs, chains, seed=seed)
    ratios, codes = {}, []

    def callback(state) -> None:
        values = state.point.values
        codes.append((values["a"].argmax(-1) * 4 + values["b"].argmax(-1)).reshape(-1).double())
        if state.sweeps in CHECKPOINTS:
            cells = gt.cells("lattice", {k: v.cpu() for k, v in values.items()}).numpy()
            counts = np.bincount(cells, minlength=probs.shape[1])[None]
            ratios[state.sweeps] = gt.total_variation(counts, probs) / floor

    start = time.perf_counter()
    sample(program, energy, chains, sweeps=sweeps, seed=seed, stats=shift_stats(energy),
           callback=callback)  # fmt: skip
    seconds = time.perf_counter() - start
    trace = torch.stack(codes, 1)[:, sweeps // 2 :]
    ess = bulk_ess(trace)
    return {
        "tv_over_floor": ratios,
        "first_within_1.5": next((s for s in CHECKPOINTS if ratios.get(s, 9) <= 1.5), None),
        "seconds_per_sweep": seconds / sweeps,
        "ess_bulk": ess,
        "rhat": split_rhat(trace),
        "ess_per_second": ess / seconds,
    }


# ---- a large binary model: a 1-D Ising chain (closed-form marginals by forward-backward) ------
CHAIN_SPEC = """model chain
variables {
  s : binary[%d]
}
energy {
  return quadratic(s)
}
sampler run {
  init s ~ uniform
  update s with %s
  sweeps = %d
}
"""
BINARY = {
    "gwg": "gwg",
    "gwg(flips = 4)": "gwg(flips = 4)",
    "dmala(step = 0.5)": "dmala(step = 0.5)",
    "dmala(step = 1)": "dmala(step = 1.0)",
    "gibbs": "gibbs",
    "metropolis": "metropolis",
}
COUPLING, FIELD = 0.8, -0.4  # f(s) = J sum_i s_i s_i+1 + h sum_i s_i, s in {0, 1}


def chain_marginals(sites: int) -> np.ndarray:
    """Exact P(s_i = 1) of the chain, by forward-backward over its 2-state transfer matrix."""
    psi = np.exp(COUPLING * np.outer([0, 1], [0, 1]))
    phi = np.exp(FIELD * np.array([0.0, 1.0]))
    forward = [phi / phi.sum()]
    for _ in range(sites - 1):
        message = (forward[-1] @ psi) * phi
        forward.append(message / message.sum())
    backward = [np.ones(2)]
    for _ in range(sites - 1):
        message = psi @ (phi * backward[-1])
        backward.append(message / message.sum())
    backward = backward[::-1]
    joint = np.array([f * b for f, b in zip(forward, backward, strict=True)])
    return joint[:, 1] / joint.sum(1)


def run_binary(kernel: str, sites: int, chains: int, sweeps: int, seed: int) -> dict:
    from ebmspec.api import compile_spec
    from ebmspec.runtime.model.energy import lower_energy
    from ebmspec.source import Source

    program = compile_spec(Source("chain.ebm", CHAIN_SPEC % (sites, kernel, sweeps)))
    model = lower_energy(program, seed=seed)
    (block,) = model.blocks.values()
    with torch.no_grad():
        block.weight.zero_()
        index = torch.arange(sites - 1)
        block.weight[index, index + 1] = COUPLING / 2  # v^T W v counts each pair twice
        block.weight[index + 1, index] = COUPLING / 2
        block.bias.fill_(FIELD)
    magnetisation = []

    def callback(state) -> None:
        magnetisation.append(state.point.values["s"].double().mean(1))

    start = time.perf_counter()
    state, _ = sample(program, model, chains, sweeps=sweeps, seed=seed, callback=callback)
    seconds = time.perf_counter() - start
    exact = chain_marginals(sites)
    found = state.point.values["s"].double().mean(0).numpy()
    se = np.sqrt(exact * (1 - exact) / chains)
    trace = torch.stack(magnetisation, 1)[:, sweeps // 2 :]
    ess = bulk_ess(trace)
    return {
        "max_z": float(np.max(np.abs(found - exact) / se)),
        "seconds_per_sweep": seconds / sweeps,
        "ess_bulk": ess,
        "rhat": split_rhat(trace),
        "ess_per_second": ess / seconds,
    }


def binary_table(args) -> None:
    sites, sweeps = args.sites, args.binary_sweeps
    print(
        f"\n1-D Ising chain, {sites} binary sites (J {COUPLING}, h {FIELD}); {args.chains} chains, "
        f"{sweeps} sweeps; max |mean - exact| / SE over the sites at the end, and the bulk ESS of "
        "the magnetisation over the second half",
        flush=True,
    )
    print(f"{'kernel':<20}{'max z':>8}{'ms/sweep':>10}{'ESS':>10}{'R-hat':>9}{'ESS/s':>10}")
    rate = {}
    for name, kernel in BINARY.items():
        row = run_binary(kernel, sites, args.chains, sweeps, args.seed)
        rate[name] = np.nan_to_num(row["ess_per_second"], nan=0.0)
        print(
            f"{name:<20}{row['max_z']:>8.2f}{1000 * row['seconds_per_sweep']:>10.2f}"
            f"{row['ess_bulk']:>10.0f}{row['rhat']:>9.3f}{row['ess_per_second']:>10.1f}",
            flush=True,
        )
    best_dmala = max(v for n, v in rate.items() if n.startswith("dmala"))
    print(f"dmala_vs_gwg_ess_per_s={best_dmala / rate['gwg'] if rate['gwg'] else np.inf:.1f}")


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--chains", type=int, default=4096)
    parser.add_argument("--sweeps", type=int, default=2000)
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--sites", type=int, default=128, help="sites of the binary chain")
    parser.add_argument("--binary-sweeps", type=int, default=500)
    args = parser.parse_args(argv)
    torch.set_num_threads(args.threads)
    print(
        f"lattice: 16 components 10 sigma apart; {args.chains} chains, {args.sweeps} sweeps, "
        f"{args.threads} thread(s), torch {torch.__version__}; TV / i.i.d. floor after n sweeps",
        flush=True,
    )
    shown = [c for c in CHECKPOINTS if c <= args.sweeps]
    print(f"{'schedule':<20}" + "".join(f"{c:>7}" for c in shown)
          + f"{'<=1.5x at':>11}{'ms/sweep':>10}{'ESS':>10}{'R-hat':>9}{'ESS/s':>10}")  # fmt: skip
    results = {}
    for name, kernel in SCHEDULES.items():
        row = results[name] = run_schedule(kernel, args.chains, args.sweeps, args.seed)
        cells = "".join(f"{row['tv_over_floor'][c]:>7.2f}" for c in shown)
        reached = row["first_within_1.5"]
        print(
            f"{name:<20}{cells}{(str(reached) if reached else 'never'):>11}"
            f"{1000 * row['seconds_per_sweep']:>10.2f}{row['ess_bulk']:>10.0f}"
            f"{row['rhat']:>9.3f}{row['ess_per_second']:>10.1f}",
            flush=True,
        )
    # A schedule whose label chains never move in the second half has no finite ESS: 0 per s.
    rate = {n: np.nan_to_num(r["ess_per_second"], nan=0.0) for n, r in results.items()}
    jump = rate["jump + mala"]
    best = max(v for n, v in rate.items() if not n.startswith("jump"))
    print(
        f"jump_vs_gwg_ess_per_s={jump / rate['gwg + mala'] if rate['gwg + mala'] else np.inf:.1f}"
    )
    print(f"jump_vs_best_other_ess_per_s={jump / best if best else np.inf:.1f}")
    binary_table(args)


if __name__ == "__main__":
    main()
