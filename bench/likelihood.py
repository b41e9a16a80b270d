"""AIS against exact log Z, in one run: `ebmspec eval --ais`'s estimator where the answer is known.

In: three models whose log partition function is known exactly, each sampled by its spec's own
kernels. Out, per model: the exact log Z, the forward AIS estimate (a stochastic lower bound) and
the reverse AIS estimate started from exact draws of the model (a stochastic upper bound), each
with its standard error over `--runs` independent runs, and the line
`ais_logz_err_<model>=<|forward - exact|> (stderr s, z = err / s, bracketed yes|no)`; last,
`ais_logz_err=` the largest of them, with the load and the wall time.

* rbm: `specs/rbm_mnist.ebm` (784 x 16 binary RBM, exact block Gibbs) trained for
  `--rbm-iterations`; exact log Z by enumerating the 2^16 hidden states (the visible units in
  closed form, `textbook.rbm_log_z`, the energy read into (W, b, c) from its own values); exact
  draws: h from its enumerated marginal, then v | h.
* ising: a 4 x 4 Ising torus (J = 0.4, field 0.1, single-site `gibbs`); exact log Z and draws by
  enumerating its 65,536 states.
* flow: `specs/digits_nice.ebm` (a NICE flow on 8 x 8 digits, MALA) trained for
  `--flow-iterations`; log Z = 0 exactly (f is a normalised log-density); exact draws through the
  flow's inverse from N(0, I).

The base of every path is the sampler's init distribution with the data statistics
(`runtime/sampling/base_density.py`), as `ebmspec eval --ais` uses it.

* tempering: parallel tempering on a bimodal 4 x 4 Ising torus (J = 1, field 0.1: the two
  ordered modes 24:1 apart, no data table to jump by) against single-site Gibbs alone given as
  many energy evaluations (R replicas: R times the sweeps), from the same random starts: TV of
  the (bond sum, magnetisation) law from the exact one over the i.i.d. floor,
  `pt_tv_over_floor=` and `no_pt_tv_over_floor=`, and the swap rates.
* objectives, toy: each new objective trains a shipped spec and is scored by AIS (forward,
  reverse from the test data) and, where there is one, the exact test log-likelihood: the
  784 x 16 RBM by `pseudo_likelihood(sites = 10)` against `cd(steps = 1, start = data)` (CD-1),
  the same iterations (`rbm_ll_pl=`, `rbm_ll_cd=`, exact beside them); the toy 8 Gaussians
  (`specs/toy_ssm.ebm`) by `dsm` and `nce` against its own `ssm` (`toy_ll_dsm=`, `toy_ll_nce=`,
  `toy_ll_ssm=`, AIS forward: log p(x, y)).

Run: `python bench/likelihood.py [--only rbm ising flow tempering objectives] [--temperatures
1000] [--runs 10] [--chains 50]` (about 15 minutes on one core; `--quick` for a smoke run).
"""

from __future__ import annotations

import argparse
import math
import os
import sys
import tempfile
import time
from pathlib import Path

import torch

try:  # run as `python bench/likelihood.py` (bench/ on the path) or imported as `bench.likelihood`
    import textbook
except ImportError:
    from bench import textbook

from ebmspec.api import compile_spec
from ebmspec.runtime.evaluation.ais import ais_log_z
from ebmspec.runtime.model.blocks.nice import NICE
from ebmspec.runtime.model.energy import lower_energy, variable_table
from ebmspec.runtime.model.enumeration import configurations
from ebmspec.runtime.sampling.base_density import Base
from ebmspec.runtime.sampling.sampler import default_sampler, sampler_table
from ebmspec.runtime.sampling.schedule import run_conditioned
from ebmspec.source import Source

ISING = """
model ising4 "4 x 4 Ising torus, J = 0.4, field 0.1"
variables { s : binary[4, 4] }
energy {
  z = 2 * s - 1
  return 0.4 * sum(z * (roll(z, shift = 1, axis = 0) + roll(z, shift = 1, axis = 1)))
    + 0.1 * sum(z)
}
sampler gibbs { update s with gibbs }
"""


class Case:
    """A model with its exact log Z and a function drawing exact samples."""

    def __init__(self, name, program, model, stats, log_z, draw, note):
        self.name, self.program, self.model, self.stats = name, program, model, stats
        self.log_z, self.draw, self.note = log_z, draw, note


def rbm_case(folder: Path, iterations: int) -> Case:
    trainer, _, seconds = textbook.train(
        "rbm_mnist.ebm", folder, [f"train.iterations={iterations}"]
    )
    model = trainer.model
    hidden = trainer.table["h"].shape[0]
    torch.set_grad_enabled(False)  # scoring only from here (measure() takes its own gradients)
    W, b, c = textbook.rbm_parameters(model, 784, hidden)
    offset = float(model({"x": torch.zeros(1, 1, 28, 28), "h": torch.zeros(1, hidden)}).double())
    log_z = float(textbook.rbm_log_z(W, b, c)) + offset

    def draw(count: int, generator) -> dict:
        codes = torch.arange(2**hidden)
        states = ((codes[:, None] >> torch.arange(hidden)) & 1).double()
        log_p = states @ c + torch.nn.functional.softplus(states @ W.t() + b).sum(1)
        picked = torch.multinomial(torch.softmax(log_p, 0), count, True, generator=generator)
        h = states[picked]
        p_v = torch.sigmoid(h @ W.t() + b)
        v = (torch.rand(p_v.shape, generator=generator, dtype=torch.float64) < p_v).float()
        return {"x": v.reshape(count, 1, 28, 28), "h": h.float()}

    note = f"784 x {hidden}, {trainer.iteration} iterations ({seconds:.0f} s)"
    return Case("rbm", trainer.program, model, trainer.stats, log_z, draw, note)


@torch.no_grad()
def ising_case() -> Case:
    program = compile_spec(Source("ising4.ebm", ISING))
    model = lower_energy(program)
    every = configurations(variable_table(program), ["s"])
    f = model(every).double()
    log_z = float(torch.logsumexp(f, 0))

    def draw(count: int, generator) -> dict:
        picked = torch.multinomial(torch.softmax(f, 0), count, True, generator=generator)
        return {"s": every["s"][picked]}

    return Case("ising", program, model, {}, log_z, draw, "65,536 states enumerated")


def flow_case(folder: Path, iterations: int, step: float | None) -> Case:
    settings = [f"train.iterations={iterations}"]
    if step is not None:  # the sampler's MALA step (nll does not sample: training is the same)
        settings.append(f"sampler.joint.x.step={step}")
    trainer, _, seconds = textbook.train("digits_nice.ebm", folder, settings)
    (flow,) = [m for m in trainer.model.modules() if isinstance(m, NICE)]
    torch.set_grad_enabled(False)
    shape = trainer.table["x"].shape

    def draw(count: int, generator) -> dict:
        z = torch.randn(count, math.prod(shape), generator=generator)
        return {"x": flow.inverse(z).reshape(count, *shape)}

    note = f"NICE on 8 x 8 digits, {trainer.iteration} iterations ({seconds:.0f} s)"
    return Case("flow", trainer.program, trainer.model, trainer.stats, 0.0, draw, note)


def measure(case: Case, temperatures: int, runs: int, chains: int) -> float:
    table = variable_table(case.program)
    sampler = sampler_table(case.program.sampler(default_sampler(case.program)))
    base = Base(sampler["inits"], table, case.stats)
    generator = torch.Generator().manual_seed(0)
    exact_draws = case.draw(runs * chains, generator)
    start = time.perf_counter()
    found = ais_log_z(case.model, table, sampler, base, temperatures, runs, chains, generator,
                      stats=case.stats, reverse_from=exact_draws)  # fmt: skip
    seconds = time.perf_counter() - start
    fwd, rev = found["forward"], found["reverse"]
    err = abs(fwd.log_z - case.log_z)
    z = err / fwd.stderr if fwd.stderr > 0 else math.inf
    bracketed = fwd.log_z - 2 * fwd.stderr <= case.log_z <= rev.log_z + 2 * rev.stderr
    kernels = ", ".join(f"{kernel}({', '.join(names)})" for kernel, names, *_ in sampler["blocks"])
    print(f"{case.name}: {case.note}; kernels {kernels}; {temperatures} temperatures, "
          f"{runs} runs x {chains} chains, {seconds:.1f} s")  # fmt: skip
    print(
        f"  exact log Z {case.log_z:.4f}   forward {fwd.log_z:.4f} ± {fwd.stderr:.4f} "
        f"(ESS {fwd.ess:.0f} of {fwd.chains})   reverse {rev.log_z:.4f} ± {rev.stderr:.4f}"
    )
    print(f"ais_logz_err_{case.name}={err:.4f} (stderr {fwd.stderr:.4f}, z = {z:.2f}, "
          f"reverse - exact {rev.log_z - case.log_z:+.4f}, bracketed "
          f"{'yes' if bracketed else 'no'})")  # fmt: skip
    return err


BIMODAL = """
model bimodal "4 x 4 Ising torus, J = 1, field 0.1"
variables { s : binary[4, 4] }
energy {
  z = 2 * s - 1
  return sum(z * (roll(z, shift = 1, axis = 0) + roll(z, shift = 1, axis = 1))) + 0.1 * sum(z)
}
sampler plain { update s with gibbs }
sampler tempered {
  update s with gibbs
  temperatures = [1, 0.8, 0.65, 0.5, 0.4, 0.3]
}
"""


def tempering(chains: int, sweeps: int) -> None:
    try:
        import lattices
    except ImportError:
        from bench import lattices
    program = compile_spec(Source("bimodal.ebm", BIMODAL))
    model = lower_energy(program)
    table = variable_table(program)
    every = configurations(table, ["s"])
    with torch.no_grad():
        exact = torch.softmax(model(every).double(), 0)

    def stat(s: torch.Tensor) -> torch.Tensor:  # (bond sum, magnetisation) as one code
        bond = torch.round(lattices._bonds(2 * s - 1) * 16).long() + 32
        return bond * 17 + s.sum((1, 2)).long()

    law = torch.zeros(65 * 17, dtype=torch.float64).index_add_(0, stat(every["s"]), exact).numpy()
    replicas = len(program.sampler("tempered").temperatures)
    ratios = {}
    for name, count in (("tempered", sweeps), ("plain", sweeps * replicas)):
        start = time.perf_counter()
        with torch.no_grad():
            sampler = sampler_table(program.sampler(name))
            generator = torch.Generator().manual_seed(1)
            state, target = run_conditioned(model, table, sampler, chains, generator, count)
        counts = torch.bincount(stat(state.point.values["s"]), minlength=65 * 17).numpy()
        tv, floor = lattices._tv_over_floor(counts, law, seed=2)
        up = float((state.point.values["s"].mean((1, 2)) > 0.5).double().mean())
        swaps = getattr(target, "swap_rates", None)
        rates = (
            "" if swaps is None else ", swap rates " + " ".join(f"{float(r):.3f}" for r in swaps)
        )
        seconds = time.perf_counter() - start
        print(f"tempering {name}: {chains} chains x {count} sweeps ({seconds:.1f} s), TV {tv:.4f}, "
              f"floor {floor:.4f}, chains in the + mode {up:.3f} (exact "
              f"{float(exact[every['s'].mean((1, 2)) > 0.5].sum()):.3f}){rates}")  # fmt: skip
        ratios[name] = tv / floor
    print(
        f"pt_tv_over_floor={ratios['tempered']:.3f} no_pt_tv_over_floor={ratios['plain']:.3f} "
        f"(the same {chains * sweeps * replicas:,} chain-sweeps each)"
    )


def _scored(label: str, trainer, dataset, temperatures: int, runs: int, chains: int, exact=None):
    """AIS forward and reverse (from the test data) on a trained run; the exact test
    log-likelihood beside them when given. Returns the forward test log-likelihood."""
    from ebmspec.runtime.data.encoding import test_split
    from ebmspec.runtime.evaluation.likelihood import ais_report

    split = test_split(trainer.table, dataset, trainer.pipelines, trainer.s.seed)
    args = {"temperatures": temperatures, "runs": runs, "chains": chains, "reverse": True,
            "sampler": None}  # fmt: skip
    entry = ais_report(trainer.program, trainer.model, split, trainer.stats, args, seed=0)
    text = f"exact {exact:.2f}, " if exact is not None else ""
    print(f"  {label}: test log p({entry['test_log_likelihood_of']}) {text}AIS forward "
          f"{entry['test_log_likelihood']:.2f} (log Z {entry['log_z']:.2f} ± "
          f"{entry['log_z_stderr']:.2f}), reverse {entry['test_log_likelihood_reverse']:.2f} "
          f"({entry['seconds']:.0f} s)")  # fmt: skip
    return entry["test_log_likelihood"]


def objectives(folder: Path, iterations: int, temperatures: int, runs: int, chains: int) -> None:
    found = {}
    for name, objective in (
        ("cd", "cd(steps = 1, start = data)"),
        ("pl", "pseudo_likelihood(sites = 10)"),
    ):
        trainer, dataset, seconds = textbook.train(
            "rbm_mnist.ebm", folder / f"rbm_{name}",
            [f"train.objective={objective}", f"train.iterations={iterations}"],
        )  # fmt: skip
        hidden = trainer.table["h"].shape[0]
        with torch.no_grad():
            W, b, c = textbook.rbm_parameters(trainer.model, 784, hidden)
            test_v = dataset.test["x"].reshape(len(dataset.test["x"]), -1)
            exact = textbook.rbm_log_likelihood(W, b, c, test_v)
        print(f"rbm {objective}: {trainer.iteration} iterations in {seconds:.1f} s")
        found[name] = _scored(f"rbm by {name}", trainer, dataset, temperatures, runs, chains, exact)
    print(f"rbm_ll_pl={found['pl']:.2f} rbm_ll_cd={found['cd']:.2f} (AIS forward, nats per digit)")


def toy_objectives(folder: Path, iterations: int, temperatures: int, runs: int, chains: int):
    toy = {}
    for name, objective in (("ssm", None), ("dsm", "dsm(sigmas = [0.3, 0.1], alpha = 1)"),
                            ("nce", "nce(ratio = 4)")):  # fmt: skip
        settings = [f"train.iterations={iterations}"]
        settings += [f"train.objective={objective}"] if objective else []
        trainer, dataset, seconds = textbook.train("toy_ssm.ebm", folder / f"toy_{name}", settings)
        print(f"toy_ssm {objective or 'ssm (the spec)'}: {trainer.iteration} iterations in "
              f"{seconds:.1f} s")  # fmt: skip
        toy[name] = _scored(f"toy by {name}", trainer, dataset, temperatures, runs, chains)
    print(" ".join(f"toy_ll_{n}={v:.3f}" for n, v in toy.items()) + " (AIS forward, log p(x, y))")


def brackets(case: Case, temperatures: int, runs: int, chains: int, seeds: int) -> None:
    """Forward and reverse AIS over `seeds` independent seeds (fresh exact draws each): the mean
    of (estimate - exact) with its standard error. The two are bounds in expectation, so over
    seeds the forward mean sits at or below 0 and the reverse mean at or above, within noise."""
    import statistics

    table = variable_table(case.program)
    sampler = sampler_table(case.program.sampler(default_sampler(case.program)))
    base = Base(sampler["inits"], table, case.stats)
    forward, reverse = [], []
    for seed in range(seeds):
        generator = torch.Generator().manual_seed(100 + seed)
        draws = case.draw(runs * chains, generator)
        found = ais_log_z(case.model, table, sampler, base, temperatures, runs, chains,
                          generator, stats=case.stats, reverse_from=draws)  # fmt: skip
        forward.append(found["forward"].log_z - case.log_z)
        reverse.append(found["reverse"].log_z - case.log_z)

    def line(values):
        return f"{statistics.mean(values):+.4f} ± {statistics.stdev(values) / seeds**0.5:.4f}"

    print(f"ais_bracket_{case.name}: over {seeds} seeds, forward - exact {line(forward)}, "
          f"reverse - exact {line(reverse)}")  # fmt: skip


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parts = ["rbm", "ising", "flow", "tempering", "objectives", "toy"]
    parser.add_argument("--only", nargs="+", default=parts, choices=parts)
    parser.add_argument("--temperatures", type=int, default=1000)
    parser.add_argument("--runs", type=int, default=10)
    parser.add_argument("--chains", type=int, default=50)
    parser.add_argument("--rbm-iterations", type=int, default=300)
    parser.add_argument("--flow-iterations", type=int, default=500)
    parser.add_argument("--flow-step", type=float, default=0.05)
    parser.add_argument("--flow-temperatures", type=int, default=10000)
    parser.add_argument("--objective-iterations", type=int, default=1000)
    parser.add_argument("--quick", action="store_true", help="small runs: a smoke test")
    parser.add_argument("--seeds", type=int, default=1, help="repeat AIS over this many seeds")
    parser.add_argument("--threads", type=int, default=1)
    args = parser.parse_args(argv)
    torch.set_num_threads(args.threads)
    print(f"threads {args.threads}, load {os.getloadavg()[0]:.2f} (1 min) at the start")
    if args.quick:
        args.temperatures, args.flow_temperatures, args.runs, args.chains = 20, 20, 2, 5
        args.rbm_iterations = args.flow_iterations = args.objective_iterations = 5
    errors = {}
    with tempfile.TemporaryDirectory() as folder:
        for name in args.only:
            if name == "tempering":
                tempering(200 if args.quick else 2000, 5 if args.quick else 200)
                continue
            if name in ("objectives", "toy"):
                run = objectives if name == "objectives" else toy_objectives
                run(Path(folder), args.objective_iterations, args.temperatures, args.runs,
                    args.chains)  # fmt: skip
                continue
            temperatures = args.temperatures
            if name == "rbm":
                case = rbm_case(Path(folder), args.rbm_iterations)
            elif name == "ising":
                case = ising_case()
            else:
                case = flow_case(Path(folder), args.flow_iterations, args.flow_step)
                temperatures = args.flow_temperatures
            errors[name] = measure(case, temperatures, args.runs, args.chains)
            if args.seeds > 1:
                brackets(case, temperatures, args.runs, args.chains, args.seeds)
            torch.set_grad_enabled(True)
    if errors:
        worst = max(errors, key=errors.get)
        print(f"ais_logz_err={errors[worst]:.4f} (nats, the largest: {worst})")
    print(f"load {os.getloadavg()[0]:.2f} (1 min) at the end")
    return 0


if __name__ == "__main__":
    sys.exit(main())
