"""`data npz(...)`: arrays mapped onto the variables by name, `_test` arrays, an .npy for one
variable, binarize at load, and the located errors that say how to map or transform."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from tests.runtime.data.helpers import error, load

SPEC = """model t "t"
data {data}
variables {{
  x : binary[2, 3]
  y : categorical(4)
}}
energy {{
  return mlp(concat(flatten(x), onehot(y)), hidden = [8])
}}
"""


def test_npz_arrays_by_name_with_test_arrays(tmp_path):
    rng = np.random.default_rng(0)
    x, y = rng.integers(0, 2, (20, 6)), rng.integers(0, 4, 20)
    np.savez(tmp_path / "a.npz", pixels=x, y=y, pixels_test=x[:5], y_test=y[:5])
    data = load(SPEC, 'npz(file = "a.npz", arrays = ["x = pixels"])', spec_dir=tmp_path)
    assert data.train["x"].shape == (20, 2, 3) and data.train["x"].dtype == torch.int64
    assert torch.equal(data.train["x"].reshape(20, 6), torch.from_numpy(x))
    assert torch.equal(data.test["y"], torch.from_numpy(y[:5]))
    assert "x <- `pixels`" in data.description and "_test" in data.description


def test_npz_binarize_makes_real_arrays_binary_once_at_load(tmp_path):
    rng = np.random.default_rng(1)
    x = rng.random((400, 2, 3)).astype(np.float32)
    np.savez(tmp_path / "r.npz", x=x, y=rng.integers(0, 4, 400))
    spec = SPEC.replace("data {data}", "data {data}\n  transform x: binarize(threshold = 0.5)")
    data = load(spec, 'npz(file = "r.npz", test = 0.25)', spec_dir=tmp_path)
    both = torch.cat([data.train["x"], data.test["x"]])
    assert set(both.unique().tolist()) == {0.0, 1.0}
    assert both.sum() == int((x > 0.5).sum())
    random = spec.replace("threshold = 0.5", "stochastic = true")
    first = load(random, 'npz(file = "r.npz", test = 0.25)', spec_dir=tmp_path, seed=3)
    again = load(random, 'npz(file = "r.npz", test = 0.25)', spec_dir=tmp_path, seed=3)
    assert torch.equal(first.train["x"], again.train["x"])  # fixed by the seed
    mean = float(torch.cat([first.train["x"], first.test["x"]]).mean())
    assert abs(mean - float(x.mean())) < 0.03  # 1 with probability the value


def test_npy_holds_one_variable(tmp_path):
    np.save(tmp_path / "one.npy", np.ones((10, 2)))
    spec = SPEC.replace("  y : categorical(4)\n", "").replace(", onehot(y)", "")
    spec = spec.replace("binary[2, 3]", "real[2]").replace("flatten(x)", "x")
    data = load(spec, 'npz(file = "one.npy", test = 0.2)', spec_dir=tmp_path)
    assert data.train["x"].shape == (8, 2) and data.train["x"].dtype == torch.float32
    two = error(SPEC, 'npz(file = "one.npy")', "E622", spec_dir=tmp_path)
    assert "holds one array" in two


@pytest.mark.parametrize(
    ("arrays", "code", "words"),
    [
        ({"pixels": np.zeros((4, 6)), "y": np.zeros(4)}, "E622", 'arrays = ["x = ARRAY"]'),
        ({"x": np.zeros((4, 5)), "y": np.zeros(4)}, "E623", "needs [N, 2, 3]"),
        ({"x": np.full((4, 6), 0.5), "y": np.zeros(4)}, "E627", "binarize(threshold = 0.5)"),
        ({"x": np.zeros((4, 6)), "y": np.full(4, 7)}, "E627", "categorical(K)"),
        ({"x": np.zeros((4, 6)), "y": np.zeros(3)}, "E623", "different numbers of rows"),
    ],
)
def test_npz_errors_name_the_array_and_the_fix(tmp_path, arrays, code, words):
    np.savez(tmp_path / "bad.npz", **arrays)
    assert words in error(SPEC, 'npz(file = "bad.npz")', code, spec_dir=tmp_path)
