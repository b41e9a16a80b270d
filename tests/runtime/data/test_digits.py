"""scikit-learn's 8x8 digits."""

from __future__ import annotations

import importlib.util

import pytest
import torch

from tests.runtime.data.helpers import error, load
from tests.runtime.data.test_mnist import MNIST

# ---- digits ------------------------------------------------------------------------------------

DIGITS = MNIST.replace("real[1, 28, 28]", "real[1, 8, 8]")


def test_digits_are_sklearns_17_level_images_split_by_the_seed():
    """`digits`: scikit-learn's 1,797 8 x 8 digits as levels / 16 in [0, 1] with their labels,
    `test` rows drawn with the seed (a different seed, a different split; together all rows)."""
    if importlib.util.find_spec("sklearn") is None:
        pytest.skip("scikit-learn is not installed (the digits ship in it)")
    data = load(DIGITS, "digits(test = 300)")
    x, y = data.train["x"], data.train["y"]
    assert x.shape == (1497, 1, 8, 8) and data.test["x"].shape == (300, 1, 8, 8)
    assert y.dtype == torch.int64 and set(y.tolist()) == set(range(10))
    levels = torch.cat([x, data.test["x"]]) * 16
    assert torch.equal(levels, levels.round()) and levels.min() == 0 and levels.max() == 16
    other = load(DIGITS, "digits(test = 300)", seed=1)
    assert not torch.equal(other.test["x"], data.test["x"])
    every = torch.cat([other.train["x"], other.test["x"]])
    assert torch.allclose(every.sum(), levels.sum() / 16)  # the same 1,797 rows, split otherwise


def test_digits_errors_name_the_extra_and_the_split(monkeypatch):
    """Too many test rows is E628 on the `data` line; without scikit-learn, E624 naming the
    extra to install."""
    if importlib.util.find_spec("sklearn") is not None:
        assert "1,797 examples" in error(DIGITS, "digits(test = 1797)", "E628")
    monkeypatch.setattr(importlib.util, "find_spec", lambda name: None)
    assert "ebmspec[datasets]" in error(DIGITS, "digits()", "E624")
