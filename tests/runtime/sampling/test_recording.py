"""`Recorder` keeps the draws after the warm-up, every `thin`-th, as [chain, draw, *shape] codes.

The fake states of a run whose sweep s holds the value s in every element, so every kept draw
says which sweep it came from; categoricals come back as codes, binaries as 0/1 integers; `Kept`
counts the draws as the recorder takes them; `trace_bytes` is chains x draws x bytes per draw.
"""

from __future__ import annotations

import pytest
import torch

from ebmspec.runtime.model.ops import Var
from ebmspec.runtime.sampling.recording import Kept, Recorder, codes, trace_bytes

TABLE = {
    "x": Var("real", (2, 3)),
    "b": Var("binary", (4,)),
    "c": Var("categorical", (2,), 5),
}
CHAINS = 3


class State:
    """What the sampler's callback receives: the chains' point values (model space)."""

    def __init__(self, sweep: int):
        x = torch.full((CHAINS, 2, 3), float(sweep)) + torch.arange(CHAINS)[:, None, None] / 10
        b = torch.full((CHAINS, 4), float(sweep % 2))
        c = torch.nn.functional.one_hot(torch.full((CHAINS, 2), sweep % 5), 5).float()
        self.point = type("Point", (), {"values": {"x": x, "b": b, "c": c}})


@pytest.mark.parametrize(("sweeps", "warmup", "thin"), [(10, 5, 1), (10, 3, 2), (9, 0, 4)])
def test_kept_draws_in_chain_draw_order(sweeps, warmup, thin):
    kept = Kept(sweeps, warmup, thin)
    recorder = Recorder(TABLE, ["x", "b", "c"], kept)
    for sweep in range(sweeps):
        recorder(State(sweep))
    taken = list(range(warmup, sweeps, thin))
    assert kept.draws == len(taken)
    assert [kept.draw(s) for s in range(sweeps)] == [
        taken.index(s) if s in taken else None for s in range(sweeps)
    ]
    draws = recorder.draws()
    assert draws["x"].shape == (CHAINS, len(taken), 2, 3) and draws["x"].dtype == torch.float32
    chain_of = torch.arange(CHAINS)[:, None] / 10
    assert torch.allclose(draws["x"][..., 1, 2], torch.tensor(taken).float() + chain_of)
    assert draws["b"].dtype == torch.int64 and draws["b"].shape == (CHAINS, len(taken), 4)
    assert draws["b"][0, :, 0].tolist() == [s % 2 for s in taken]
    assert draws["c"].dtype == torch.int64 and draws["c"].shape == (CHAINS, len(taken), 2)
    assert draws["c"][2, :, 1].tolist() == [s % 5 for s in taken]


def test_a_run_cut_short_gives_the_draws_it_made():
    recorder = Recorder(TABLE, ["x"], Kept(10, 4))
    for sweep in range(7):
        recorder(State(sweep))
    assert recorder.draws()["x"][0, :, 0, 0].tolist() == [4.0, 5.0, 6.0]


def test_codes_and_bytes():
    one_hot = torch.nn.functional.one_hot(torch.tensor([[2, 0]]), 3).float()
    assert codes(Var("categorical", (2,), 3), one_hot).tolist() == [[2, 0]]
    assert codes(Var("binary", (2,)), torch.tensor([[1.0, 0.0]])).tolist() == [[1, 0]]
    real = torch.tensor([[0.25]])
    assert codes(Var("real", (1,)), real) is real
    # per draw and chain: 6 float32 reals, 4 + 2 int64 codes
    per_draw = 6 * 4 + (4 + 2) * 8
    assert trace_bytes(TABLE, ["x", "b", "c"], CHAINS, Kept(10, 4, 2)) == per_draw * CHAINS * 3
    assert trace_bytes(TABLE, ["x"], CHAINS, Kept(10, 10)) == 0
