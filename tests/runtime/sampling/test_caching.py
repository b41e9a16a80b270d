"""Caching across sampler blocks (kernels.base.Memo, passes/plan_cache.py) changes no chain.

A block whose moves leave an expensive part of the energy alone (labels beside an image network)
evaluates that static part once and its proposals by the head; the next block's gradients come
from one backward through it. Checked here: for the same seed the cached chain equals the fused
and the naive one (values within 1e-6, identical acceptance, after 50 sweeps) on the dSprites
network of paper 004 and on a CNN spec under every kernel, free or with elements and whole
variables clamped; a cached dSprites sweep runs the CNN once forward and once backward; the
static part is kept across sweeps while nothing moves it; and gradients reach `x` through the
static part exactly as a full evaluation gives them.
"""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F

from ebmspec.api import compile_file, compile_spec
from ebmspec.runtime.model.energy import lower_energy, random_values, variable_table
from ebmspec.runtime.sampling.kernels import Target
from ebmspec.runtime.sampling.sampler import sample
from ebmspec.source import Source
from tests.conftest import ROOT
from tests.runtime.sampling.test_fusion import SWEEPS, assert_same_chain

CNN = """\
model cached "labels beside an image network, under every kernel"

variables {
  x : real[1, 8, 8]
  y : categorical(3)[2]
  b : binary[3]
  r : real[2] in [-2, 2]
}

energy {
  h = cnn(x, channels = [16, 32], kernels = [3, 3], act = silu)
  return mlp(concat(flatten(h), onehot(y), b, r), hidden = [16], act = tanh)
    + gaussian(r, mean = 0.0) + gaussian(x, mean = 0.0, std = 2.0)
}

sampler s {
  init x, r ~ normal
  init y, b ~ uniform
%s
  sweeps = 50
}
"""

CASES = {
    "gwg+langevin": "update y, b with gwg\n  update x, r with langevin(step = 0.01)",
    "gwg+mala": "update y, b with gwg(flips = 2)\n  update x, r with mala(step = 0.01)",
    "gwg*2+hmc": "update y, b with gwg repeat 2\n  update x, r with hmc(step = 0.05, leapfrog = 2)",
    "gibbs+langevin": "update y, b with gibbs\n  update x, r with langevin(step = 0.01)",
    "joint gibbs+mala": "update y, b with gibbs(joint = true)\n"
    "  update x, r with mala(step = 0.01)",
    "metropolis+gwg+langevin": "update y with metropolis\n  update b with gwg\n"
    "  update r with langevin(step = 0.05)\n  update x with langevin(step = 0.01)",
    "langevin+gwg": "update x, r with langevin(step = 0.01) repeat 2\n  update y, b with gwg",
}

CONDITIONS = {
    "free": None,
    "elements": {
        "y": (F.one_hot(torch.tensor([1, 0]), 3).float(), torch.tensor([True, False])),
        "b": (torch.tensor([1.0, 0.0, 1.0]), torch.tensor([False, True, False])),
    },
    "whole": {"b": torch.tensor([1.0, 1.0, 0.0]), "r": torch.tensor([0.5, -0.5])},
    "x clamped": {"x": torch.zeros(1, 8, 8)},
}


def _cnn_model(blocks: str):
    program = compile_spec(Source("cached.ebm", CNN % ("  " + blocks)))
    model = lower_energy(program, seed=0)
    with torch.no_grad():
        head = model.blocks["return"].net[0].weight
        head[:, -8:] *= 20.0  # sharp labels: GWG and Metropolis reject a fair share
    return program, model


@pytest.mark.parametrize("condition", list(CONDITIONS), ids=str)
@pytest.mark.parametrize("blocks", list(CASES), ids=str)
def test_cached_fused_and_naive_give_the_same_chain(blocks, condition):
    program, model = _cnn_model(CASES[blocks])
    given = CONDITIONS[condition]
    runs = {
        mode: sample(program, model, 12, 20, seed=5, condition=given, fuse=fuse, cache=cache)
        for mode, fuse, cache in (
            ("cached", True, True),
            ("fused", True, False),
            ("naive", False, False),
        )
    }
    cached, target = runs["cached"]
    assert cached.sweeps == 20
    assert_same_chain(cached, runs["fused"][0])
    assert_same_chain(cached, runs["naive"][0])
    assert any(float(k.hops.sum()) > 0 for k in cached.kernels), blocks
    if condition != "x clamped":
        # The image network's work moved from full evaluations to the static part.
        assert target.root_forwards > 0
        assert target.passes + target.forwards < runs["fused"][1].passes + runs["fused"][1].forwards


def test_dsprites_cached_fused_and_naive_give_the_same_chain():
    program = compile_file(ROOT / "specs" / "dsprites_joint.ebm")
    model = lower_energy(program, seed=0)
    with torch.no_grad():
        model.blocks["return"].net[0].weight[:, 256:] *= 300.0  # GWG accepts about half
    cached, target = sample(program, model, 8, sweeps=SWEEPS, seed=4)
    fused, _ = sample(program, model, 8, sweeps=SWEEPS, seed=4, cache=False)
    naive, _ = sample(program, model, 8, sweeps=SWEEPS, seed=4, fuse=False)
    assert_same_chain(cached, fused)
    assert_same_chain(cached, naive)
    gwg, _ = cached.kernels
    rate = float(gwg.accepted.sum()) / (8 * gwg.steps)
    assert 0.2 < rate < 0.8, rate
    # One CNN forward and one backward per sweep, two head evaluations, no full evaluation.
    counts = (target.passes, target.root_forwards, target.root_backwards, target.head_passes)
    assert counts == (0, SWEEPS, SWEEPS, 2 * SWEEPS)


def test_dsprites_cnn_runs_once_forward_per_cached_sweep():
    program = compile_file(ROOT / "specs" / "dsprites_joint.ebm")
    model = lower_energy(program, seed=0)
    calls = []
    hook = model.blocks["h"].register_forward_hook(lambda *_: calls.append(1))
    try:
        sample(program, model, 4, sweeps=7, seed=0)
    finally:
        hook.remove()
    assert len(calls) == 7


def test_gradients_through_the_static_part_are_the_full_gradients():
    program, model = _cnn_model(CASES["gwg+langevin"])
    values = random_values(program, 5, torch.Generator().manual_seed(3))
    full = Target(model, variable_table(program), cache=False).evaluate(values)
    target = Target(model, variable_table(program))
    point = target.with_grads(full._replace(f=None, grads=None), ("y", "b"))
    assert set(point.grads) == {"y", "b"}
    point = target.with_grads(point, ("x", "r"))
    assert (target.root_forwards, target.head_passes, target.root_backwards) == (1, 1, 1)
    torch.testing.assert_close(point.f, full.f, rtol=1e-6, atol=1e-6)
    for name in ("x", "r", "y", "b"):
        torch.testing.assert_close(point.grads[name], full.grads[name], rtol=1e-5, atol=1e-6)
