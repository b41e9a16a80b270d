"""`data moons(...)`: two interleaving half circles, fresh batches every iteration."""

from __future__ import annotations

import pytest
import torch

from ebmspec.diagnostics import UserError
from tests.runtime.data.helpers import gen, load

# ---- moons -------------------------------------------------------------------------------------

MOONS = """model t "t"
data {data}
variables {{
  x : real[2]
  y : categorical(2)
}}
energy {{
  return mlp(concat(x, onehot(y)), hidden = [8], act = elu)
}}
"""


def test_moons_lie_on_their_half_circles_with_balanced_labels():
    """Without noise every point lies on its moon: the upper one on the unit circle above the
    x axis, the lower one on the unit circle around (1, 1/2) below y = 1/2; labels about half
    and half; with noise the radial spread is the noise's std."""
    data = load(MOONS, "moons(noise = 0, test = 500)")
    x, y = data.train["x"], data.train["y"]
    assert x.shape == (100_000, 2) and y.dtype == torch.int64
    upper, lower = x[y == 0], x[y == 1]
    assert torch.allclose(upper.norm(dim=1), torch.ones(len(upper)), atol=1e-5)
    assert (upper[:, 1] >= 0).all()
    centred = lower - torch.tensor([1.0, 0.5])
    assert torch.allclose(centred.norm(dim=1), torch.ones(len(lower)), atol=1e-5)
    assert (centred[:, 1] <= 1e-6).all()
    assert abs(len(upper) / len(y) - 0.5) < 0.01
    assert data.test["x"].shape == (500, 2)
    noisy = load(MOONS, "moons(noise = 0.1)").train
    radial = noisy["x"][noisy["y"] == 0].norm(dim=1) - 1
    assert abs(radial.std().item() - 0.1) < 0.005


def test_moons_batches_are_reproducible_fresh_draws():
    data = load(MOONS, "moons()")
    a, b = data.batch(64, gen(3)), data.batch(64, gen(3))
    assert all(torch.equal(a[k], b[k]) for k in a)
    g = gen(3)
    assert not torch.equal(data.batch(64, g)["x"], data.batch(64, g)["x"])
    assert not torch.equal(load(MOONS, "moons()", seed=1).test["x"], data.test["x"])


def test_moons_have_no_such_argument_and_no_negative_noise():
    for bad in ("moons(noise = -0.1)", "moons(modes = 3)"):
        with pytest.raises(UserError) as info:
            load(MOONS, bad)
        assert info.value.diagnostics[0].span.line == 2
