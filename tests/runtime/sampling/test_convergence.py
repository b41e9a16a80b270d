"""Split-R-hat and bulk ESS against cases whose answer is known.

* independent normal draws: R-hat 1 (to 1 %), ESS the number of draws (to 10 %);
* an AR(1) process with coefficient phi: ESS = M N (1 - phi) / (1 + phi) (to 10 %);
* chains with different means: R-hat far above 1.01, a small ESS;
* heavy ties (0/1 draws) are ranked with their average rank; a constant variable gives NaN;
* `Trace` keeps the second half of the sweeps, one summary per chain;
* on stored chains (tests/runtime/sampling/arviz_reference.json, written by arviz_reference.py),
both
  equal ArviZ's `rhat` (bulk and tail) and `ess(method="bulk")` to 1e-12.
"""

from __future__ import annotations

import json
import math
from pathlib import Path

import pytest
import torch

from ebmspec.runtime.model.ops import Var
from ebmspec.runtime.sampling.convergence import Trace, bulk_ess, rank_normal, split_rhat


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


@pytest.mark.parametrize("phi", [0.5, 0.9])
def test_autocorrelated_draws(phi):
    draws = _ar1(8, 4000, phi, seed=1)
    assert bulk_ess(draws) == pytest.approx(8 * 4000 * (1 - phi) / (1 + phi), rel=0.1)
    assert split_rhat(draws) < 1.01


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
    assert math.isnan(split_rhat(torch.ones(4, 100))) and math.isnan(bulk_ess(torch.ones(4, 100)))
    stuck = torch.arange(4.0)[:, None].expand(4, 100)  # each chain at its own value, forever
    assert split_rhat(stuck) == math.inf and math.isnan(bulk_ess(stuck))


def test_trace_keeps_the_second_half_of_one_summary_per_chain():
    table = {"x": Var("real", (2,)), "y": Var("categorical", (), 3)}
    trace = Trace(table, ["x", "y"])

    class State:  # what the sampler's callback receives: the chains' point values
        def __init__(self, step):
            x = torch.full((5, 2), float(step))
            y = torch.nn.functional.one_hot(torch.full((5,), step % 3), 3).float()
            self.point = type("Point", (), {"values": {"x": x, "y": y}})

    for step in range(10):
        trace(State(step))
    assert torch.equal(trace.draws("x"), torch.arange(5, 10).double().expand(5, 5))
    assert torch.equal(trace.draws("y")[0], torch.tensor([2.0, 0, 1, 2, 0]))
    found = trace.diagnostics()
    assert set(found) == {"x", "y"} and set(found["x"]) == {"rhat", "ess_bulk"}
    assert Trace(table, ["x"]).diagnostics() == {}  # no draws yet


REFERENCE = json.loads(Path(__file__).with_name("arviz_reference.json").read_text("utf-8"))


@pytest.mark.parametrize("case", sorted(REFERENCE["cases"]))
def test_agrees_with_arviz_on_stored_chains(case):
    """ArviZ's numbers for these very draws (its `rhat` default: the larger of the bulk and the
    tail R-hat; `ess(method="bulk")`: Stan's truncation of Geyer's sequence)."""
    stored = REFERENCE["cases"][case]
    draws = torch.tensor(stored["draws"], dtype=torch.float64)
    assert split_rhat(draws) == pytest.approx(stored["rhat"], rel=1e-12)
    assert bulk_ess(draws) == pytest.approx(stored["ess_bulk"], rel=1e-12)


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
