"""Annealed importance sampling (runtime/evaluation/ais.py, runtime/sampling/base_density.py,
`likelihood ais(...)`, `ebmspec eval --ais`): log Z against closed forms and exact enumeration,
forward below and reverse above within their standard errors, a normalised base, the
evaluate-block line and the command-line option with its located errors."""

from __future__ import annotations

import json
import math

import pytest
import torch

from ebmspec.api import compile_spec
from ebmspec.runtime.evaluation.ais import ais_log_z, sigmoid_schedule
from ebmspec.runtime.model.energy import lower_energy, variable_table
from ebmspec.runtime.model.enumeration import configurations
from ebmspec.runtime.sampling.base_density import Base
from ebmspec.runtime.sampling.sampler import default_sampler, sampler_table
from ebmspec.source import Source
from tests.conftest import ROOT

GAUSS = """
model gauss "a 3-D normal N(1, 0.5^2 I)"
variables { x : real[3] }
energy { return -0.5 * sum((x - 1) * (x - 1)) / 0.25 }
sampler joint {
  init x ~ normal(mean = 0, std = 2)
  update x with mala(step = 0.05)
}
"""
ISING = """
model ising4 "4 x 4 Ising torus"
variables { s : binary[4, 4] }
energy {
  z = 2 * s - 1
  return 0.4 * sum(z * (roll(z, shift = 1, axis = 0) + roll(z, shift = 1, axis = 1)))
    + 0.1 * sum(z)
}
sampler gibbs { update s with gibbs }
"""
MIXED = """
model mixed "a label and a bounded real"
variables {
  y : categorical(3)
  x : real[2] in [-2, 2]
}
energy {
  h = onehot(y)
  return sum(x * x) * -0.5 + 0.7 * h[1] - 0.4 * h[2] + 0.3 * x[0] * h[0]
}
sampler joint {
  init x ~ normal(mean = 0.5, std = 1.5)
  update y with gibbs
  update x with mala(step = 0.05)
}
"""


def _setup(text: str):
    program = compile_spec(Source("t.ebm", text))
    table = variable_table(program)
    sampler = sampler_table(program.sampler(default_sampler(program)))
    return program, lower_energy(program), table, sampler


def _ais(text: str, draws: dict, temperatures=300, seed=0):
    _, model, table, sampler = _setup(text)
    base = Base(sampler["inits"], table, {})
    generator = torch.Generator().manual_seed(seed)
    return ais_log_z(model, table, sampler, base, temperatures, 10, 40, generator,
                     reverse_from=draws)  # fmt: skip


def test_gaussian_log_z_matches_the_closed_form_both_ways():
    exact = 3 * math.log(0.5 * math.sqrt(2 * math.pi))
    draws = {"x": 1 + 0.5 * torch.randn(400, 3, generator=torch.Generator().manual_seed(1))}
    found = _ais(GAUSS, draws)
    forward, reverse = found["forward"], found["reverse"]
    assert abs(forward.log_z - exact) <= max(3 * forward.stderr, 0.02)
    assert abs(forward.log_z - exact) < 0.1
    assert abs(reverse.log_z - exact) <= max(3 * reverse.stderr, 0.02)


def test_ising_log_z_matches_enumeration_and_the_two_bracket_it():
    program, model, table, _ = _setup(ISING)
    every = configurations(table, ["s"])
    with torch.no_grad():
        f = model(every).double()
    exact = float(torch.logsumexp(f, 0))
    picked = torch.multinomial(torch.softmax(f, 0), 400, True,
                               generator=torch.Generator().manual_seed(2))  # fmt: skip
    found = _ais(ISING, {"s": every["s"][picked]})
    forward, reverse = found["forward"], found["reverse"]
    assert abs(forward.log_z - exact) < 0.05
    assert forward.log_z - 3 * forward.stderr <= exact <= reverse.log_z + 3 * reverse.stderr
    assert abs(reverse.log_z - exact) < 0.05


def test_annealing_matters_on_a_peaked_model():
    """Negative control: with one temperature AIS is importance sampling from the base, which
    misses the Ising model's mass by far more than the annealed estimate's error."""
    strong = ISING.replace("0.4 * sum", "1.2 * sum")
    _, model_strong, table, _ = _setup(strong)
    with torch.no_grad():
        exact = float(torch.logsumexp(model_strong(configurations(table, ["s"])).double(), 0))
    annealed = _ais(strong, None, temperatures=500)["forward"]
    plain = _ais(strong, None, temperatures=1)["forward"]
    assert abs(annealed.log_z - exact) < 0.2
    assert exact - plain.log_z > 5 * abs(annealed.log_z - exact) + 1.0


def test_mixed_discrete_and_bounded_real_model_against_quadrature():
    """A categorical beside a real in a box (truncated-normal base): log Z by a grid."""
    _, model, table, _ = _setup(MIXED)
    grid = torch.linspace(-2, 2, 801)
    x = torch.stack(torch.meshgrid(grid, grid, indexing="ij"), -1).reshape(-1, 2)
    total = []
    for k in range(3):
        y = torch.nn.functional.one_hot(torch.full((len(x),), k), 3).float()
        with torch.no_grad():
            total.append(model({"y": y, "x": x}).double())
    cell = float(grid[1] - grid[0]) ** 2
    exact = float(torch.logsumexp(torch.cat(total), 0)) + math.log(cell)
    found = _ais(MIXED, None, temperatures=300)["forward"]
    assert abs(found.log_z - exact) <= max(3 * found.stderr, 0.03)


def test_base_densities_are_normalised():
    _, _, table, sampler = _setup(MIXED)
    stats = {}
    base = Base(sampler["inits"], table, stats)
    (y_part, x_part) = base.parts
    grid = torch.linspace(-2, 2, 2001)
    x = torch.stack(torch.meshgrid(grid, grid, indexing="ij"), -1).reshape(-1, 2)
    mass = x_part.log_prob(x).exp().sum() * float(grid[1] - grid[0]) ** 2
    assert abs(float(mass) - 1) < 5e-3
    y = torch.eye(3)
    assert abs(float(y_part.log_prob(y).exp().sum()) - 1) < 1e-9
    # data frequencies, smoothed: a site never on in the data keeps a little mass
    binary = Base([(("s",), "data_frequency", {})], variable_table(_setup(ISING)[0]),
                  {"s": {"freq": torch.zeros(4, 4)}})  # fmt: skip
    every = configurations(variable_table(_setup(ISING)[0]), ["s"])
    assert abs(float(binary.log_prob(every).exp().sum()) - 1) < 1e-9
    assert float(binary.log_prob({"s": torch.ones(1, 4, 4)}).exp()) > 0
    draws = base.sample(20000, torch.Generator().manual_seed(0))
    assert draws["x"].abs().max() <= 2 and abs(float(draws["y"].sum(0)[0]) / 20000 - 1 / 3) < 0.02


def test_sigmoid_schedule_runs_from_zero_to_one():
    betas = sigmoid_schedule(50)
    assert betas[0] == 0 and betas[-1] == 1 and len(betas) == 51
    assert bool((betas[1:] > betas[:-1]).all())


def _pairs_spec(folder, extra: str = ""):
    """specs/table_pairs.ebm (an enumerable joint table) copied into `folder`, plus `extra`."""
    text = (ROOT / "specs" / "table_pairs.ebm").read_text()
    spec = folder / "pairs.ebm"
    spec.write_text(text.replace('"data/', f'"{ROOT}/specs/data/') + extra)
    return spec


SPEC_LINE = "\nevaluate {\n  likelihood ais(temperatures = 200, runs = 4, chains = 25)\n}\n"


def test_eval_reports_ais_beside_the_exact_log_z(cli, tmp_path):
    spec = tmp_path / "pairs.ebm"
    text = (
        (ROOT / "specs" / "table_pairs.ebm").read_text().replace('"data/', f'"{ROOT}/specs/data/')
    )
    spec.write_text(text + SPEC_LINE)
    status, _, err = cli("train", str(spec), "--set", "train.iterations=100", "--out", "runs/r",
                         "--device", "cpu", cwd=tmp_path)  # fmt: skip
    assert status == 0, err
    status, out, err = cli("eval", "runs/r", "--json", "--no-images", cwd=tmp_path)
    assert status == 0, err
    ais = json.loads(out)["ais"]
    assert (ais["temperatures"], ais["runs"], ais["chains"]) == (200, 4, 25)
    assert abs(ais["log_z"] - ais["exact_log_z"]) < max(3 * ais["log_z_stderr"], 0.05)
    assert abs(ais["log_z_reverse"] - ais["exact_log_z"]) < 0.2
    exact = json.loads(out)["test_log_likelihood"]
    assert abs(ais["test_log_likelihood"] - exact) < 0.1
    # the command line overrides the spec's line, and the table shows it
    status, out, err = cli("eval", "runs/r", "--ais", "temperatures=50,reverse=false",
                           "--no-images", cwd=tmp_path)  # fmt: skip
    assert status == 0, err
    assert "log Z, AIS forward (lower bound; 50 temperatures, 4 x 25 chains)" in out
    assert "reverse AIS" not in out and "log Z, exact" in out
    # and from Python
    import ebmspec

    result = ebmspec.load_run(tmp_path / "runs" / "r").evaluate(ais="temperatures=30,runs=2")
    assert result["ais"]["temperatures"] == 30 and result["ais"]["runs"] == 2


@pytest.mark.parametrize(
    ("option", "message", "caret"),
    [
        ("temperatures=100,runz=3", "unknown AIS setting `runz`", 17),
        ("runs=0", "`0` is not a positive integer", 5),
        ("reverse=maybe", "`maybe` is not true or false", 8),
        ("sampler=nope", "unknown sampler `nope`", 8),
        ("chains", "`chains` has no value", 0),
    ],
)
def test_bad_ais_options_are_located_user_errors(cli, tmp_path, option, message, caret):
    spec = tmp_path / "pairs.ebm"
    text = (
        (ROOT / "specs" / "table_pairs.ebm").read_text().replace('"data/', f'"{ROOT}/specs/data/')
    )
    spec.write_text(text)
    status, _, err = cli("train", str(spec), "--set", "train.iterations=2", "--out", "runs/r",
                         "--device", "cpu", cwd=tmp_path)  # fmt: skip
    assert status == 0, err
    status, _, err = cli("eval", "runs/r", "--ais", option, cwd=tmp_path)
    assert status == 1
    assert "error[E941]" in err and message in err and "Traceback" not in err
    caret_line = next(line for line in err.splitlines() if "^" in line)
    source_line = err.splitlines()[err.splitlines().index(caret_line) - 1]
    assert caret_line.index("^") - source_line.index(option) == caret
