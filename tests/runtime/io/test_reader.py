"""The torch-only safetensors reader (shared with every emitted module) against the safetensors
library, on every dtype it maps, and the checkpoint statistics round trip."""

from __future__ import annotations

import pytest
import torch
from safetensors.torch import save_file

from ebmspec.runtime.io import checkpoint as ckpt
from ebmspec.runtime.io.reader import (
    _SAFETENSORS_DTYPES,
    checkpoint_stats,
    flatten_stats,
    read_safetensors,
    unflatten_stats,
)


def test_reader_matches_the_library_on_every_dtype(tmp_path):
    generator = torch.Generator().manual_seed(0)
    tensors = {}
    for name, dtype in _SAFETENSORS_DTYPES.items():
        values = torch.randn(3, 4, generator=generator) * 50
        tensors[name] = values > 0 if dtype is torch.bool else values.to(dtype)
    tensors["empty"] = torch.zeros(0, 5)
    tensors["scalar"] = torch.tensor(2.5)
    path = tmp_path / "t.safetensors"
    save_file(tensors, str(path), metadata={"format": "x"})
    got = read_safetensors(path)
    assert got.keys() == tensors.keys()
    for key, value in tensors.items():
        assert got[key].dtype == value.dtype and torch.equal(got[key], value), key


def test_reader_refuses_truncated_files(tmp_path):
    path = tmp_path / "cut.safetensors"
    save_file({"a": torch.ones(10)}, str(path))
    path.write_bytes(path.read_bytes()[:6])
    with pytest.raises(ValueError, match="too short"):
        read_safetensors(path)


def test_checkpoint_statistics_round_trip(tmp_path):
    stats = {
        "x": {"mean": torch.rand(1, 4, 4), "std": torch.rand(1, 4, 4)},
        "y": {"freq": torch.rand(10)},
    }
    path = tmp_path / "checkpoint.safetensors"
    tensors = ckpt.with_prefix("stats", flatten_stats(stats)) | {"model/w": torch.ones(2)}
    ckpt.save_checkpoint(path, tensors, {"iteration": 1})
    for got in (checkpoint_stats(path), unflatten_stats(flatten_stats(stats))):
        assert got.keys() == stats.keys()
        for name, fields in stats.items():
            assert all(torch.equal(got[name][k], v) for k, v in fields.items())
