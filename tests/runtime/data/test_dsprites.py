"""dSprites: the procedural set and the official file layout, and their errors."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from tests.runtime.data.helpers import error, gen, load

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
