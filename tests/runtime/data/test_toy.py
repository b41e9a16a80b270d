"""The toy generative process (paper 004): attribute tables, mode geometry, missing labels."""

from __future__ import annotations

import math

import pytest
import torch

from ebmspec.runtime.data import TOY_CENTRES, toy_attributes
from tests.runtime.data.helpers import TOY, error, gen, load

# ---- toy ---------------------------------------------------------------------------------------

MULTI = [(1, 0, 0), (1, 1, 0), (1, 0, 1), (1, 1, 1), (0, 0, 0), (0, 1, 0), (0, 0, 1), (0, 1, 1)]
HIERARCH = [(1, 1, 1), (1, 1, 0), (1, 0, 1), (1, 0, 0), (0, 1, 1), (0, 0, 1), (0, 0, 0), (0, 1, 0)]


@pytest.mark.parametrize(("attributes", "table"), [("multi", MULTI), ("hierarch", HIERARCH)])
def test_toy_attribute_tables(attributes, table):
    assert toy_attributes(torch.arange(8), attributes).tolist() == [list(row) for row in table]


def test_toy_mode_geometry():
    s = 4 / math.sqrt(2)
    expected = [(0, -4), (4, 0), (0, 4), (-4, 0), (s, s), (s, -s), (-s, s), (-s, -s)]
    assert torch.allclose(TOY_CENTRES, torch.tensor(expected))
    data = load(TOY, 'toy(attributes = "hierarch", std = 0.05)')
    x, y = data.batch(8000, gen(1)).values()
    assert x.shape == (8000, 2) and x.dtype == torch.float32 and y.dtype == torch.int64
    # every point is near the centre (divided by 1.414) of the mode its attributes name
    mode = torch.cdist(x * 1.414, TOY_CENTRES).argmin(1)
    assert torch.equal(toy_attributes(mode, "hierarch"), y)
    distance = (x - TOY_CENTRES[mode] / 1.414).norm(dim=1)
    assert distance.max() < 0.05 * 6 / 1.414
    counts = torch.bincount(mode, minlength=8).float()
    assert counts.min() > 850 and counts.max() < 1150
    assert torch.allclose(x.norm(dim=1).mean(), torch.tensor(4 / 1.414), atol=0.01)


def test_toy_default_noise_std_and_sizes():
    data = load(TOY, "toy(test = 300)")
    assert len(data) == 100_000 and data.train["x"].shape == (100_000, 2)
    assert data.test["x"].shape == (300, 2) and data.test["y"].shape == (300, 3)
    assert data.fields == {"x": ("real", (2,), None), "y": ("categorical", (3,), 2)}
    x = data.train["x"] * 1.414
    mode = torch.cdist(x, TOY_CENTRES).argmin(1)
    assert (x - TOY_CENTRES[mode]).std().item() == pytest.approx(0.5, rel=0.05)
    assert "8 Gaussians" in data.description


def test_toy_missing_hides_each_proper_subset_equally():
    data = load(TOY, "toy(missing = true)")
    y = data.batch(70_000, gen(2))["y"]
    hidden = y == -1
    assert not hidden.all(dim=1).any()  # never all three
    codes = (hidden.long() * torch.tensor([1, 2, 4])).sum(1)
    counts = torch.bincount(codes, minlength=8)
    assert counts[7] == 0
    assert torch.all((counts[:7] - 10_000).abs() < 500), counts  # 1/7 each, empty set included
    assert (data.test["y"] >= 0).all()  # test labels are complete
    assert (data.train["y"] == -1).any()


def test_toy_batches_are_reproducible_fresh_draws():
    data = load(TOY, "toy()")
    a, b = data.batch(64, gen(3)), data.batch(64, gen(3))
    assert all(torch.equal(a[k], b[k]) for k in a)
    g = gen(3)
    first, second = data.batch(64, g), data.batch(64, g)
    assert not torch.equal(first["x"], second["x"])
    assert torch.equal(load(TOY, "toy()", seed=0).test["x"], data.test["x"])
    assert not torch.equal(load(TOY, "toy()", seed=1).test["x"], data.test["x"])


def test_toy_modes_must_be_eight():
    text = error(TOY, "toy(modes = 6)", "E629")
    assert "8 modes" in text
