"""`data uci(name)`: the UCI tables inside mlxtend."""

from __future__ import annotations

import importlib.util

import pytest
import torch

from ebmspec.api import compile_spec
from ebmspec.runtime.data import load_dataset
from ebmspec.source import Source


@pytest.mark.parametrize(("name", "rows", "features"), [("wine", 178, 13), ("iris", 150, 4)])
def test_uci_tables_come_from_mlxtend_with_their_classes(name, rows, features):
    """`data uci(name)`: the UCI table inside mlxtend, split with the seed; every class present."""
    if importlib.util.find_spec("mlxtend") is None:
        pytest.skip("mlxtend is not installed (the UCI tables ship in it)")

    text = (
        f'model m\ndata uci(name = "{name}", test = 0.3)\nvariables {{\n  x : real[{features}]\n'
        "  y : categorical(3)\n}\nenergy {\n  return mlp(x, hidden = [8], out = 3)[y]\n}\n"
    )
    program = compile_spec(Source("m.ebm", text))
    dataset = load_dataset(program, seed=0)
    assert len(dataset.train["y"]) + len(dataset.test["y"]) == rows
    assert len(dataset.test["y"]) == round(0.3 * rows)
    assert dataset.train["x"].shape[1:] == (features,) and dataset.train["x"].dtype == torch.float32
    assert set(dataset.train["y"].tolist()) == {0, 1, 2}
    again = load_dataset(program, seed=0)
    assert torch.equal(again.test["x"], dataset.test["x"])
    assert not torch.equal(load_dataset(program, seed=1).test["x"], dataset.test["x"])
