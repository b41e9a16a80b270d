"""Split-R-hat, bulk and tail ESS and MCSE against cases whose answer is known.

* independent normal draws: R-hat 1 (to 1 %), bulk and tail ESS the number of draws (to 10 %),
  MCSE of the mean sd / sqrt(draws);
* an AR(1) process with coefficient phi: ESS = M N (1 - phi) / (1 + phi) (to 10 %);
* chains with different means: R-hat far above 1.01, a small ESS;
* heavy ties (0/1 draws) are ranked with their average rank; a constant variable has R-hat NaN
  and ESS its number of draws (as ArviZ); chains stuck at their own values R-hat inf;
* per element: each column of a [chains, draws, K] batch gets the numbers it would get alone;
* `Trace` keeps the second half of the sweeps (or what --warmup / --thin say), one summary per
  chain;
* on stored chains (tests/runtime/sampling/arviz_reference.json, written by arviz_reference.py),
  all four equal ArviZ's `rhat` (bulk and tail), `ess(method="bulk")`, `ess(method="tail")` and
  `mcse(method="mean")` to 1e-12 (test_arviz.py compares with ArviZ itself where it is installed).
"""

from __future__ import annotations

import json
import math
from pathlib import Path

import pytest
import torch

from ebmspec.runtime.model.ops import Var
from ebmspec.runtime.sampling import convergence
from ebmspec.runtime.sampling.convergence import (
    Trace,
    bulk_ess,
    diagnose,
    mcse_mean,
    per_element,
    rank_normal,
    split_rhat,
    tail_ess,
)


def _ar1(chains: int, draws: int, phi: float, seed: int) -> torch.Tensor:
    noise = torch.randn(chains, draws, generator=torch.Generator().manual_seed(seed)).double()
    x = torch.empty_like(noise)
    x[:, 0] = noise[:, 0] / math.sqrt(1 - phi**2)  # stationary from the start
    for i in range(1, draws):
        x[:, i] = phi * x[:, i - 1] + noise[:, i]
    return x


@pytest.mark.parametrize("seed", range(3))
def test_independent_draws(seed):
    draws = torch.randn(8, 1000, generator=torch.Generator().manual_seed(seed)).double()
    assert split_rhat(draws) == pytest.approx(1.0, abs=0.01)
    assert bulk_ess(draws) == pytest.approx(8000, rel=0.1)
    assert tail_ess(draws) == pytest.approx(8000, rel=0.1)
    assert mcse_mean(draws) == pytest.approx(1 / math.sqrt(8000), rel=0.1)


@pytest.mark.parametrize("phi", [0.5, 0.9])
def test_autocorrelated_draws(phi):
    draws = _ar1(8, 4000, phi, seed=1)
    ess = 8 * 4000 * (1 - phi) / (1 + phi)
    assert bulk_ess(draws) == pytest.approx(ess, rel=0.1)
    assert split_rhat(draws) < 1.01
    sd = 1 / math.sqrt(1 - phi**2)  # the stationary standard deviation
    assert mcse_mean(draws) == pytest.approx(sd / math.sqrt(ess), rel=0.1)


def test_chains_that_disagree():
    draws = torch.randn(8, 1000, generator=torch.Generator().manual_seed(0)).double()
    apart = draws + 0.5 * torch.arange(8.0).double()[:, None]
    assert split_rhat(apart) > 1.3 and bulk_ess(apart) < 100
    # a trend inside each chain: the split halves disagree even when the chains agree
    trend = draws + torch.linspace(0, 3, 1000).double()
    assert split_rhat(trend) > 1.1


def test_ties_and_constants():
    ranks = rank_normal(torch.tensor([[0.0, 1.0, 1.0, 0.0], [1.0, 1.0, 2.0, 0.0]]))
    assert ranks[0, 0] == ranks[0, 3] == ranks[1, 3]  # three zeros share a rank
    assert ranks[0, 1] == ranks[1, 0] < ranks[1, 2]
    bits = (torch.rand(8, 1000, generator=torch.Generator().manual_seed(2)) < 0.3).double()
    assert split_rhat(bits) == pytest.approx(1.0, abs=0.01)
    assert bulk_ess(bits) == pytest.approx(8000, rel=0.15)
    # one value throughout: nothing to compare (R-hat NaN), no Monte Carlo error (ESS = the
    # number of draws, MCSE 0), as ArviZ has it
    constant = torch.ones(4, 100)
    assert math.isnan(split_rhat(constant))
    assert bulk_ess(constant) == tail_ess(constant) == 400 and mcse_mean(constant) == 0
    stuck = torch.arange(4.0)[:, None].expand(4, 100)  # each chain at its own value, forever
    assert split_rhat(stuck) == math.inf and bulk_ess(stuck) < 8
    assert all(math.isnan(v) for v in diagnose(torch.randn(4, 3, 2).double())["rhat"].tolist())


def test_each_element_gets_the_numbers_it_would_get_alone(monkeypatch):
    draws = _ar1(4, 300, 0.7, seed=3)[..., None] * torch.tensor([1.0, 10.0, -2.0]).double()
    draws[..., 2] = draws[..., 2].round()  # ties in one element
    batch = diagnose(draws)
    alone = {"rhat": split_rhat, "ess_bulk": bulk_ess, "ess_tail": tail_ess, "mcse_mean": mcse_mean}
    for element in range(3):  # (the batched FFT may round differently in the last bits)
        for key, single in alone.items():
            assert float(batch[key][element]) == pytest.approx(single(draws[..., element]), 1e-12)
    # per_element: any shape, in chunks of elements, the same numbers
    shaped = draws.reshape(4, 300, 3, 1).expand(4, 300, 3, 2)
    monkeypatch.setattr(convergence, "CHUNK", 2 * 4 * 300)  # two elements a chunk: three chunks
    chunked = per_element(shaped)
    assert chunked["rhat"].shape == (3, 2)
    for key in alone:
        assert torch.allclose(chunked[key][:, 1], batch[key], rtol=1e-12, atol=0)


def test_trace_keeps_the_second_half_of_one_summary_per_chain():
    table = {"x": Var("real", (2,)), "y": Var("categorical", (), 3)}
    trace = Trace(table, ["x", "y"])

    class State:  # what the sampler's callback receives: the chains' point values
        def __init__(self, step):
            x = torch.full((5, 2), float(step))
            y = torch.nn.functional.one_hot(torch.full((5,), step % 3), 3).float()
            self.point = type("Point", (), {"values": {"x": x, "y": y}})

    thinned = Trace(table, ["x"], warmup=3, thin=2)
    for step in range(10):
        trace(State(step))
        thinned(State(step))
    assert torch.equal(trace.draws("x"), torch.arange(5, 10).double().expand(5, 5))
    assert torch.equal(trace.draws("y")[0], torch.tensor([2.0, 0, 1, 2, 0]))
    assert torch.equal(thinned.draws("x")[0], torch.tensor([3.0, 5, 7, 9]))
    found = trace.diagnostics()
    assert set(found) == {"x", "y"}
    assert set(found["x"]) == {"of", "elements", "rhat", "rhat_over_1_01", "ess_bulk", "ess_tail",
                               "per_element"}  # fmt: skip
    assert found["x"]["of"] == "mean" and found["x"]["elements"] == 1
    assert set(found["x"]["per_element"]) == {"rhat", "ess_bulk", "ess_tail", "mcse_mean"}
    assert Trace(table, ["x"]).diagnostics() == {}  # no draws yet


REFERENCE = json.loads(Path(__file__).with_name("arviz_reference.json").read_text("utf-8"))


@pytest.mark.parametrize("case", sorted(REFERENCE["cases"]))
def test_agrees_with_arviz_on_stored_chains(case):
    """ArviZ's numbers for these very draws (its `rhat` default: the larger of the bulk and the
    tail R-hat; `ess(method="bulk" | "tail")`: Stan's truncation of Geyer's sequence;
    `mcse(method="mean")`)."""
    stored = REFERENCE["cases"][case]
    draws = torch.tensor(stored["draws"], dtype=torch.float64)
    assert split_rhat(draws) == pytest.approx(stored["rhat"], rel=1e-12)
    assert bulk_ess(draws) == pytest.approx(stored["ess_bulk"], rel=1e-12)
    assert tail_ess(draws) == pytest.approx(stored["ess_tail"], rel=1e-12)
    assert mcse_mean(draws) == pytest.approx(stored["mcse_mean"], rel=1e-12)


def test_the_stored_chains_need_the_tail_rhat():
    """The reference would catch a bulk-only R-hat: on chains that differ in spread only, the
    bulk value alone is near 1 and ArviZ's is not."""
    stored = REFERENCE["cases"]["scales_apart"]
    split = torch.tensor(stored["draws"], dtype=torch.float64)
    half = split.shape[1] // 2
    halves = torch.cat([split[:, :half], split[:, split.shape[1] - half :]])
    within = rank_normal(halves).var(1).mean()
    plus = (half - 1) / half * within + rank_normal(halves).mean(1).var()
    assert float(torch.sqrt(plus / within)) < stored["rhat"] - 0.1  # the bulk value alone
    assert stored["rhat"] > 1.1
