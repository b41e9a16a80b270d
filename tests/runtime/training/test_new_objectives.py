"""`pseudo_likelihood`, `dsm` and `nce` against closed forms: per-site conditionals by exhaustive
enumeration (latent units summed out too), the Gaussian optima of denoising score matching
(N(mu, s^2 + sigma^2)) and of noise-contrastive estimation (the data's density, normalised), and
each objective training through the trainer."""

from __future__ import annotations

import itertools
import math

import pytest
import torch

from ebmspec.api import compile_spec
from ebmspec.runtime.model.energy import lower_energy, variable_table
from ebmspec.runtime.model.enumeration import free_energy
from ebmspec.runtime.sampling.base_density import Base
from ebmspec.runtime.training.objectives.dsm import dsm_loss
from ebmspec.runtime.training.objectives.nce import nce_loss
from ebmspec.runtime.training.objectives.pseudo_likelihood import pseudo_log_likelihood
from ebmspec.source import Source

COUPLED = """
model coupled "two binary sites coupled to a 3-valued label"
variables {
  s : binary[2]
  y : categorical(3)
}
params { W[2, 3] = normal(std = 1.0) }
energy {
  z = 2 * s - 1
  u = onehot(y)
  return z[0] * sum(W[0] * u) + z[1] * sum(W[1] * u) + 0.8 * z[0] * z[1] + linear(u)
}
"""
CHAIN = """
model chain "six binary sites in a chain, and a label"
variables {
  s : binary[6]
  y : categorical(3)
}
params { a[6] = normal(std = 1.0) }
energy {
  z = 2 * s - 1
  return sum(a * z) + 0.8 * sum(z[:5] * z[1:]) + linear(onehot(y))
}
"""
RBM = """
model rbm "4 visible, 3 hidden"
variables {
  x : binary[4]
  h : binary[3] latent
}
energy { return bilinear(x, h) + linear(x) + linear(h) }
"""


def _model(text: str):
    torch.manual_seed(0)
    program = compile_spec(Source("t.ebm", text))
    return program, lower_energy(program), variable_table(program)


def _onehot(codes, k):
    return torch.nn.functional.one_hot(torch.as_tensor(codes), k).float()


def test_pseudo_likelihood_equals_the_enumerated_conditionals():
    program, model, table = _model(COUPLED)
    states = list(itertools.product((0, 1), (0, 1), range(3)))
    rows = {"s": torch.tensor([[a, b] for a, b, _ in states]).float(),
            "y": _onehot([c for *_, c in states], 3)}  # fmt: skip
    with torch.no_grad():
        got = pseudo_log_likelihood(model, rows, table, ["s", "y"])
        f = model(rows).reshape(2, 2, 3)
    log_p = f - torch.logsumexp(f.reshape(-1), 0)
    expected = []
    for a, b, c in states:
        # log p(s0 | s1, y) + log p(s1 | s0, y) + log p(y | s), each from the joint table
        expected.append(
            float(log_p[a, b, c] - torch.logsumexp(log_p[:, b, c], 0))
            + float(log_p[a, b, c] - torch.logsumexp(log_p[a, :, c], 0))
            + float(log_p[a, b, c] - torch.logsumexp(log_p[a, b, :], 0))
        )
    assert torch.allclose(got, torch.tensor(expected), atol=1e-5)


def test_pseudo_likelihood_sums_latent_units_out():
    program, model, table = _model(RBM)
    every = torch.tensor(list(itertools.product((0, 1), repeat=4))).float()

    def energy(values):
        return free_energy(model, values, table, (), ["h"], True)[:, 0]

    with torch.no_grad():
        got = pseudo_log_likelihood(energy, {"x": every}, table, ["x"])
        free = energy({"x": every})  # log sum_h exp f(x, h), exactly
    index = {tuple(v.int().tolist()): i for i, v in enumerate(every)}
    for row, x in enumerate(every):
        total = 0.0
        for site in range(4):
            flipped = x.clone()
            flipped[site] = 1 - flipped[site]
            pair = torch.stack([free[row], free[index[tuple(flipped.int().tolist())]]])
            total += float(free[row] - torch.logsumexp(pair, 0))
        assert abs(float(got[row]) - total) < 1e-5


def test_pseudo_likelihood_site_subsets_are_unbiased():
    program, model, table = _model(CHAIN)
    generator = torch.Generator().manual_seed(0)
    rows = {"s": torch.randint(0, 2, (8, 6), generator=generator).float(),
            "y": _onehot(torch.randint(0, 3, (8,), generator=generator), 3)}  # fmt: skip
    with torch.no_grad():
        full = pseudo_log_likelihood(model, rows, table, ["s"])
        draws = torch.stack([pseudo_log_likelihood(model, rows, table, ["s"], 2, generator)
                             for _ in range(3000)])  # fmt: skip
    stderr = draws.std(0) / math.sqrt(len(draws))
    assert bool(((draws.mean(0) - full).abs() < 4 * stderr).all())
    assert float(stderr.max()) < 0.05 * float(full.abs().min())  # a test that can fail
    assert float(draws.std(0).min()) > 0.5  # it does sample: a fixed subset would not vary


GAUSS = """
model g "a 1-D normal with learned mean, log-variance and constant"
variables { x : real[1] }
params { m = 0.0; log_v = 0.0; c = 0.0 }
energy { return -0.5 * sum((x - m) * (x - m)) / exp(log_v) - 0.5 * log_v + c }
"""


def _fit(loss_of, steps=600, lr=0.05):
    program, model, table = _model(GAUSS)
    optimizer = torch.optim.Adam(model.parameters(), lr=lr)
    for _ in range(steps):
        optimizer.zero_grad()
        loss_of(model, table).backward()
        optimizer.step()
    return {n: float(model.params.get(n, 1)[0].detach()) for n in ("m", "log_v", "c")}


@pytest.mark.parametrize("sigma", [0.3, 1.0])
def test_dsm_fits_the_data_convolved_with_the_noise(sigma):
    generator = torch.Generator().manual_seed(0)
    data = {"x": 1.5 + 0.5 * torch.randn(20000, 1, generator=generator)}
    fit = _fit(lambda model, table: dsm_loss(model, data, table, (sigma,), generator)[0])
    assert abs(fit["m"] - 1.5) < 0.05
    assert abs(math.exp(fit["log_v"]) - (0.25 + sigma**2)) < 0.05 * (0.25 + sigma**2)


def test_nce_recovers_the_normalised_density():
    generator = torch.Generator().manual_seed(0)
    data = {"x": 1.5 + 0.5 * torch.randn(20000, 1, generator=generator)}
    program, _, table = _model(GAUSS)
    base = Base([(("x",), "normal", {"mean": 1.0, "std": 1.0})], table)
    noise = base.sample(40000, generator)
    fit = _fit(lambda model, table: nce_loss(model, data, noise, base, 2)[0], steps=800)
    assert abs(fit["m"] - 1.5) < 0.03
    assert abs(math.exp(fit["log_v"]) - 0.25) < 0.02
    # f = log N(x; m, v) exactly: c absorbs -1/2 log(2 pi)
    assert abs(fit["c"] - (-0.5 * math.log(2 * math.pi))) < 0.05


@pytest.mark.parametrize(
    ("spec", "objective"),
    [
        ("inverse_ising.ebm", "pseudo_likelihood()"),
        ("inverse_ising.ebm", "pseudo_likelihood(sites = 4)"),
        ("toy_ssm.ebm", "dsm(sigmas = [0.5, 0.1])"),
        ("toy_ssm.ebm", "nce(ratio = 2)"),
        ("rbm_digits", "pseudo_likelihood(sites = 8)"),
    ],
)
def test_each_objective_trains_a_spec(cli, tmp_path, spec, objective):
    from tests.conftest import ROOT

    if spec == "rbm_digits":  # an RBM: latent units summed out of each conditional
        text = RBM_DIGITS
        (tmp_path / "rbm.ebm").write_text(text)
        path = str(tmp_path / "rbm.ebm")
    else:
        path = str(ROOT / "specs" / spec)
    settings = [f"train.objective={objective}", "train.iterations=30", "train.batch=200"]
    options = [item for setting in settings for item in ("--set", setting)]
    status, out, err = cli("train", path, *options, "--out", "runs/r", "--device", "cpu",
                           cwd=tmp_path)  # fmt: skip
    assert status == 0, err
    assert "finished at iteration 30" in out and "0 rollbacks" in out


RBM_DIGITS = """
model rbm_digits "binary RBM on binarised 8 x 8 digits"
data digits()
  transform x: binarize(threshold = 0.5)
variables {
  x : binary[1, 8, 8]
  h : binary[8] latent
}
energy { return bilinear(flatten(x), h) + linear(flatten(x)) + linear(h) }
train {
  objective  = pseudo_likelihood()
  optimizer  = adam(lr = 0.01)
  batch      = 100
  iterations = 30
}
"""


def test_cd_from_data_starts_the_chains_at_the_batch():
    """`cd(start = data)` (Hinton's CD-k): after one GWG step (one flip per chain) each negative
    differs from its data row in at most one site; from the init distribution about half."""
    from ebmspec.runtime.sampling.sampler import sampler_table
    from ebmspec.runtime.training.negatives import Negatives

    text = """
model lattice "16 binary sites"
variables { s : binary[16] }
energy { z = 2 * s - 1
  return 0.3 * sum(z[1:] * z[:-1]) }
sampler one { update s with gwg(flips = 1) }
"""
    program, model, table = _model(text)
    sampler = sampler_table(program.sampler("one"))
    data = {"s": torch.ones(200, 16)}
    differ = {}
    for start in (None, data):
        chains = Negatives(sampler, table, steps=1, persistent=False)
        drawn, _ = chains.draw(model, 200, torch.Generator().manual_seed(0), {}, "cpu", start)
        differ[start is None] = (drawn["s"] != data["s"]).sum(1).float()
    assert float(differ[False].max()) <= 1
    assert float(differ[True].mean()) > 5
