"""Lattice models from the shipped specs against exact answers and against thrml, in one run.

In: `specs/ising.ebm` and `specs/potts.ebm` (resized by replacing their shapes and coupling in
the text: the spec is the model). Out, one `key=value` line per figure (`bench/textbook.py`
prints them beside the other textbook models):

* `ising4_tv_over_floor=`: the 4 x 4 torus at J = 0.4 (65,536 states): the joint law of (bond sum,
  magnetisation) of the coloured Gibbs chains against exact enumeration, as total variation over
  the i.i.d. floor (the mean TV of 5 exact i.i.d. samples of the same size).
* `potts_tv_over_floor=`: the 3-state Potts spec on a 3 x 3 torus (19,683 states), the law of
  the whole state, the same way.
* `ising32_hot_bond=`, `_exact=`, `_se=`, `_z=`: on the 32 x 32 torus, the bond sum per site
  (1/L^2) sum_<ij> z_i z_j = 2 <z_i z_j> at J = 0.3 (`hot`: above T_c, J_c = 0.4407) and J = 0.5
  (`cold`: below) against Onsager's exact infinite-lattice value; `ising32_cold_abs_m=` |m|
  against Onsager-Yang's spontaneous magnetisation (1 - sinh(2J)^-4)^(1/8). Standard errors: the
  chains are independent, so each chain's mean over its kept sweeps is one independent draw, and
  the error is their standard deviation / sqrt(chains) - this accounts for autocorrelation within
  a chain without estimating it. Chains below T_c start ordered (all up), as physics codes do:
  from a random start a 32 x 32 torus freezes into long-lived stripes.
* `ising_passes_per_sweep=`, `rbm_passes_per_sweep=`: energy evaluations per sweep, planned
  (`--emit schedule`) and counted by the runtime.
* `ising_vs_thrml=`: chain-sweeps per second of the 32 x 32 torus, ebmspec's coloured `gibbs`
  (eager) over thrml's block Gibbs (`bench/thrml_ising.py`, `pip install thrml`; JAX,
  jit-compiled), same chains, both pinned to one core with one thread, in the same run;
  `ising_vs_thrml_captured=` with ebmspec's sweeps captured by torch.compile (`--capture
  compile`). Compilation is excluded for both. `textbook.py --speed-cores 2`: both on two
  cores (two torch threads, XLA's own threading), `ising_vs_thrml_2_cores=`.
* `inverse_ising_err=`: the largest error of the 32 couplings `specs/inverse_ising.ebm` learns
  from 10,000 exact samples of a known torus (`bench/make_ising.py`).
"""

from __future__ import annotations

import math
import os
import time
from pathlib import Path

import numpy as np
import torch

from ebmspec.api import compile_file, compile_spec
from ebmspec.passes.plan_sweep import plan_sweeps
from ebmspec.runtime.model.energy import lower_energy, variable_table
from ebmspec.runtime.sampling.sampler import sample, sampler_table
from ebmspec.runtime.sampling.schedule import run_conditioned
from ebmspec.source import Source

SPECS = Path(__file__).resolve().parent.parent / "specs"
# Sizes of the runs (`textbook.py --quick` shrinks them for the test suite).
SIZE = {"chains": 20_000, "sweeps": 60, "lattice_chains": 128, "burn_in": 1000, "keep": 3000,
        "speed_chains": 128, "speed_sweeps": 1000, "speed_cores": 1}  # fmt: skip


def _program(spec: str, replacements: dict):
    text = (SPECS / spec).read_text()
    for old, new in replacements.items():
        assert old in text, (spec, old)
        text = text.replace(old, new)
    return compile_spec(Source(spec, text))


def _tv_over_floor(counts: np.ndarray, exact: np.ndarray, seed: int) -> tuple[float, float]:
    """TV of the histogram `counts` from `exact`, and the mean TV of 5 exact i.i.d. samples of
    the same size (the floor any sampler of that many draws is at)."""
    n = int(counts.sum())
    tv = 0.5 * np.abs(counts / n - exact).sum()
    rng = np.random.default_rng(seed)
    floor = np.mean([0.5 * np.abs(rng.multinomial(n, exact) / n - exact).sum() for _ in range(5)])
    return float(tv), float(floor)


def _chains(program, chains: int, sweeps: int, seed: int, start=None, callback=None):
    model = lower_energy(program, seed=0)
    table = sampler_table(program.samplers[0])
    with torch.no_grad():
        state, target = run_conditioned(
            model, variable_table(program), table, chains, torch.Generator().manual_seed(seed),
            sweeps, start=start, callback=callback,
        )  # fmt: skip
    return model, state, target


def _bonds(z: torch.Tensor) -> torch.Tensor:
    """(1 / sites) sum over torus neighbour pairs of z_i z_j, per chain; z [B, L, L] in +-1."""
    pairs = z * torch.roll(z, 1, 1) + z * torch.roll(z, 1, 2)
    return pairs.sum((1, 2)) / z[0].numel()


def ising4() -> None:
    program = _program("ising.ebm", {"binary[8, 8]": "binary[4, 4]"})
    chains = SIZE["chains"]
    model, state, _ = _chains(program, chains, SIZE["sweeps"], seed=1)
    every = ((torch.arange(2**16)[:, None] >> torch.arange(16)) & 1).float().reshape(-1, 4, 4)
    with torch.no_grad():
        exact = torch.softmax(model({"s": every}).double(), 0)

    def stat(s: torch.Tensor) -> torch.Tensor:  # (bond sum, magnetisation) as one code
        z = 2 * s - 1
        bond = torch.round(_bonds(z) * 16).long() + 32  # 0 .. 64
        return bond * 17 + (s.sum((1, 2)).long())  # magnetisation: 0 .. 16 ups

    cells = 65 * 17
    law = torch.zeros(cells, dtype=torch.float64).index_add_(0, stat(every), exact).numpy()
    counts = torch.bincount(stat(state.point.values["s"]), minlength=cells).numpy()
    tv, floor = _tv_over_floor(counts, law, seed=2)
    print(f"ising4: {chains} chains x {SIZE['sweeps']} sweeps, (bond sum, magnetisation) law: "
          f"TV {tv:.4f}, i.i.d. floor {floor:.4f}")  # fmt: skip
    print(f"ising4_tv_over_floor={tv / floor:.3f}")


def potts() -> None:
    program = _program("potts.ebm", {"[6, 6]": "[3, 3]", "[6, 6, 3]": "[3, 3, 3]"})
    chains = SIZE["chains"]
    model, state, _ = _chains(program, chains, SIZE["sweeps"], seed=3)
    codes = torch.arange(3**9)[:, None] // 3 ** torch.arange(9) % 3
    every = torch.nn.functional.one_hot(codes, 3).float().reshape(-1, 3, 3, 3)
    with torch.no_grad():
        exact = torch.softmax(model({"y": every}).double(), 0).numpy()
    drawn = state.point.values["y"].argmax(-1).reshape(chains, 9)
    counts = torch.bincount((drawn * 3 ** torch.arange(9)).sum(1), minlength=3**9).numpy()
    tv, floor = _tv_over_floor(counts, exact, seed=4)
    print(f"potts: 3 x 3 torus, {chains} chains x {SIZE['sweeps']} sweeps: TV {tv:.4f}, i.i.d. "
          f"floor {floor:.4f}")  # fmt: skip
    print(f"potts_tv_over_floor={tv / floor:.3f}")


def onsager_bond(J: float) -> float:
    """2 <z_i z_j> of the infinite square lattice at coupling J (Onsager 1944): the internal
    energy per site is -J times it. coth(2J) [1 + (2/pi)(2 tanh(2J)^2 - 1) K(k)],
    k = 2 sinh(2J) / cosh(2J)^2, K the complete elliptic integral of the first kind (by the
    arithmetic-geometric mean)."""
    k = 2 * math.sinh(2 * J) / math.cosh(2 * J) ** 2
    a, b = 1.0, math.sqrt(1 - k * k)
    for _ in range(40):
        a, b = (a + b) / 2, math.sqrt(a * b)
    elliptic = math.pi / (2 * a)
    return (1 / math.tanh(2 * J)) * (1 + (2 / math.pi) * (2 * math.tanh(2 * J) ** 2 - 1) * elliptic)


def onsager_m(coupling: float) -> float:
    critical = 0.5 * math.log(1 + math.sqrt(2))
    return (1 - math.sinh(2 * coupling) ** -4) ** 0.125 if coupling > critical else 0.0


def ising32() -> None:
    chains, burn, keep = SIZE["lattice_chains"], SIZE["burn_in"], SIZE["keep"]
    for J, name in ((0.3, "hot"), (0.5, "cold")):
        key = f"ising32_{name}"
        program = _program("ising.ebm", {"binary[8, 8]": "binary[32, 32]", "0.4 *": f"{J} *"})
        bond = torch.zeros(chains, dtype=torch.float64)
        mag = torch.zeros(chains, dtype=torch.float64)

        def record(state, bond=bond, mag=mag):
            if state.sweeps > burn:
                z = 2 * state.point.values["s"] - 1
                bond.add_(_bonds(z).double())
                mag.add_(z.mean((1, 2)).abs().double())

        ordered = {"s": torch.ones(chains, 32, 32)} if J > 0.4407 else None
        start = time.perf_counter()
        _chains(program, chains, burn + keep, seed=5, start=ordered, callback=record)
        seconds = time.perf_counter() - start
        bond, mag = (bond / keep).numpy(), (mag / keep).numpy()
        se = bond.std(ddof=1) / math.sqrt(chains)
        exact = onsager_bond(J)
        print(f"ising32 J={J}: {chains} chains, {burn} + {keep} sweeps in {seconds:.1f} s "
              f"({'ordered' if ordered else 'random'} start)")  # fmt: skip
        z = (bond.mean() - exact) / se
        print(f"{key}_bond={bond.mean():.5f} {key}_exact={exact:.5f} {key}_se={se:.5f} "
              f"{key}_z={z:.2f}")  # fmt: skip
        if ordered:
            m_se = mag.std(ddof=1) / math.sqrt(chains)
            m_exact = onsager_m(J)
            print(f"{key}_abs_m={mag.mean():.5f} {key}_abs_m_exact={m_exact:.5f} "
                  f"{key}_abs_m_se={m_se:.5f} "
                  f"{key}_abs_m_z={(mag.mean() - m_exact) / m_se:.2f}")  # fmt: skip


def passes() -> None:
    """Energy evaluations per sweep, as planned and as the runtime counts them."""
    for label, program in (
        ("ising", _program("ising.ebm", {"binary[8, 8]": "binary[32, 32]"})),
        ("rbm", compile_file(SPECS / "rbm_mnist.ebm")),
        ("rbm_gibbs", _program("rbm_mnist.ebm", {"with block_gibbs": "with gibbs"})),
    ):
        (plan,) = plan_sweeps(program)[:1]
        planned = plan.fused_passes + plan.fused_forwards
        model = lower_energy(program, seed=0)
        _, first = sample(program, model, 4, sweeps=1, seed=0)
        _, target = sample(program, model, 4, sweeps=11, seed=0)
        counted = (target.passes + target.forwards - first.passes - first.forwards) / 10
        print(f"{label}: {planned} planned, {counted:g} counted energy evaluations per sweep")
        if label != "rbm_gibbs":
            print(f"{label}_passes_per_sweep={counted:g}")


def _speed(program, model, chains: int, sweeps: int, capture=None) -> float:
    """Chain-sweeps per second: the time of `sweeps` more sweeps (a run of 2 x sweeps minus one of
    `sweeps`), so start-up and a captured sweep's compilation are not counted."""
    sample(program, model, chains, sweeps=5, seed=0, capture=capture)  # warm-up, compilation
    seconds = []
    for count in (sweeps, 2 * sweeps):
        start = time.perf_counter()
        sample(program, model, chains, sweeps=count, seed=0, capture=capture)
        seconds.append(time.perf_counter() - start)
    return chains * sweeps / (seconds[1] - seconds[0])


def versus_thrml() -> None:
    """Chain-sweeps per second of the 32 x 32 torus at J = 0.4: ebmspec's coloured `gibbs`
    eagerly and captured (`--capture compile`), then thrml (JAX, jit-compiled)."""
    chains, sweeps = SIZE["speed_chains"], SIZE["speed_sweeps"]
    if SIZE["speed_cores"] == 1:
        # Both on one core with one thread: XLA would otherwise spread thrml over every core.
        os.environ.setdefault(
            "XLA_FLAGS", "--xla_cpu_multi_thread_eigen=false intra_op_parallelism_threads=1"
        )
        if hasattr(os, "sched_setaffinity"):
            os.sched_setaffinity(0, {min(os.sched_getaffinity(0))})
    torch.set_num_threads(SIZE["speed_cores"])
    program = _program("ising.ebm", {"binary[8, 8]": "binary[32, 32]"})
    model = lower_energy(program, seed=0)
    eager = _speed(program, model, chains, sweeps)
    print(f"ising speed: ebmspec {eager:,.0f} chain-sweeps/s eager ({chains} chains, "
          f"{torch.get_num_threads()} torch thread(s))")  # fmt: skip
    try:
        from thrml_ising import thrml_ising
    except ImportError:
        from bench.thrml_ising import thrml_ising
    try:
        theirs = thrml_ising(32, 0.4, chains, 2 * sweeps, seed=0)["sweeps_per_s"]
    except ImportError as error:
        print(f"ising_vs_thrml: unavailable ({error})")
        return
    captured = _speed(program, model, chains, sweeps, capture="default")
    print(f"ising speed: ebmspec {captured:,.0f} chain-sweeps/s captured; thrml {theirs:,.0f} "
          f"(same chains, {2 * sweeps} sweeps, compilation excluded)")  # fmt: skip
    suffix = "" if SIZE["speed_cores"] == 1 else f"_{SIZE['speed_cores']}_cores"
    print(f"ising_vs_thrml{suffix}={eager / theirs:.2f} "
          f"ising_vs_thrml_captured{suffix}={captured / theirs:.2f}")  # fmt: skip


# The inverse-Ising row's objectives: the spec's exact `nll`, PCD on GWG chains and
# pseudo-likelihood (exact per-site conditionals, no sampling), each on the same data.
INVERSE_OBJECTIVES = {
    "nll": [],
    "pcd": ["train.objective=pcd(steps = 5, buffer = 2000)", "train.batch=1000"],
    "pl": ["train.objective=pseudo_likelihood()"],
}


def inverse_ising(train) -> None:
    """The couplings `specs/inverse_ising.ebm` learns from 10,000 exact samples against the
    known ones (`bench/make_ising.py`): the largest error and the mean, for each objective of
    INVERSE_OBJECTIVES (`inverse_ising_err` is nll's; `inverse_ising_pcd_err`, `..._pl_err`)."""
    import tempfile

    try:
        import make_ising
    except ImportError:
        from bench import make_ising
    for name, settings in INVERSE_OBJECTIVES.items():
        with tempfile.TemporaryDirectory() as folder:
            trainer, _, seconds = train("inverse_ising.ebm", Path(folder), settings)
        learned = {n: trainer.model.params.get(n, 1)[0].detach().double().numpy() for n in "HV"}
        errors = np.abs(np.stack([learned["H"] - make_ising.H, learned["V"] - make_ising.V]))
        suffix = "" if name == "nll" else f"_{name}"
        print(f"inverse_ising {name}: {trainer.iteration} iterations in {seconds:.1f} s; 32 "
              f"couplings in [{min(make_ising.H.min(), make_ising.V.min()):.2f}, "
              f"{max(make_ising.H.max(), make_ising.V.max()):.2f}]")  # fmt: skip
        print(f"inverse_ising{suffix}_err={errors.max():.4f} "
              f"inverse_ising{suffix}_mean_err={errors.mean():.4f}")  # fmt: skip


MODELS = {"ising": ising4, "potts": potts, "ising32": ising32, "passes": passes,
          "thrml": versus_thrml}  # fmt: skip
