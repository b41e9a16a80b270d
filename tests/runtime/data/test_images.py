"""`data images(...)`: a folder of class subfolders read with Pillow, resized and converted, and
its located errors."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from tests.runtime.data.helpers import error, load

Image = pytest.importorskip("PIL.Image")

SPEC = """model t "t"
data {data}
variables {{
  x : real[1, 4, 4]
  y : categorical(2)
}}
energy {{
  return mlp(concat(flatten(x), onehot(y)), hidden = [8])
}}
"""


def _folder(tmp_path, classes=("cats", "dogs"), count=5):
    for k, name in enumerate(classes):
        (tmp_path / "pics" / name).mkdir(parents=True)
        for i in range(count):
            grey = np.full((8, 8), 50 * k + i, dtype=np.uint8)
            Image.fromarray(np.stack([grey] * 3, -1)).save(tmp_path / "pics" / name / f"{i}.png")
    return tmp_path


def test_image_folder_classes_grey_and_resized(tmp_path):
    _folder(tmp_path)
    data = load(SPEC, 'images(folder = "pics", test = 0.2)', spec_dir=tmp_path)
    x = torch.cat([data.train["x"], data.test["x"]])
    y = torch.cat([data.train["y"], data.test["y"]])
    assert x.shape == (10, 1, 4, 4) and float(x.min()) >= 0 and float(x.max()) <= 1
    # each image is flat: its value says which class folder it came from
    level = (x[:, 0, 0, 0] * 255).round()
    assert torch.equal(y, (level >= 50).long())
    assert "2 classes (cats, dogs)" in data.description


def test_image_folder_errors(tmp_path):
    _folder(tmp_path, classes=("a", "b", "c"), count=1)
    text = error(SPEC, 'images(folder = "pics")', "E625", spec_dir=tmp_path)
    assert "3 subfolders" in text and "categorical(3)" in text
    flat = SPEC.replace("real[1, 4, 4]", "real[16]").replace("flatten(x)", "x")
    assert "real[C, H, W]" in error(flat, 'images(folder = "pics")', "E623", spec_dir=tmp_path)
