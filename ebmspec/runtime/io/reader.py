"""Reading what `ebmspec train` writes, with torch alone: safetensors files and the data
statistics inside a checkpoint.

In: a path. Out: `{key: tensor}`, or the statistics `{variable: {field: tensor}}` that the
data-based init distributions read. The body below the marker is copied into every emitted module,
so `ebmspec sample RUN` and `python model.py --run RUN` read a run with the very same code.
"""

from __future__ import annotations

import json
import struct
from pathlib import Path

import torch

# --- begin standalone ---


_SAFETENSORS_DTYPES = {
    "F64": torch.float64,
    "F32": torch.float32,
    "F16": torch.float16,
    "BF16": torch.bfloat16,
    "I64": torch.int64,
    "I32": torch.int32,
    "I16": torch.int16,
    "I8": torch.int8,
    "U8": torch.uint8,
    "BOOL": torch.bool,
}


def read_safetensors(path: str | Path) -> dict[str, torch.Tensor]:
    """Read a .safetensors file with torch alone (the format: u64 header size, JSON, raw bytes)."""
    data = Path(path).read_bytes()
    if len(data) < 8:
        raise ValueError(f"{path}: not a safetensors file (too short)")
    (size,) = struct.unpack("<Q", data[:8])
    if 8 + size > len(data):
        raise ValueError(f"{path}: not a safetensors file (header runs past the end)")
    header = json.loads(data[8 : 8 + size].decode("utf-8"))
    base = 8 + size
    tensors = {}
    for key, info in header.items():
        if key == "__metadata__":
            continue
        start, end = info["data_offsets"]
        dtype = _SAFETENSORS_DTYPES[info["dtype"]]
        raw = bytearray(data[base + start : base + end])
        flat = torch.frombuffer(raw, dtype=dtype) if raw else torch.empty(0, dtype=dtype)
        tensors[key] = flat.reshape(info["shape"]).clone()
    return tensors


def flatten_stats(stats: dict) -> dict[str, torch.Tensor]:
    """`{name: {key: tensor}}` -> `{"name/key": tensor}` for a checkpoint."""
    return {
        f"{name}/{key}": tensor.contiguous()
        for name, entry in stats.items()
        for key, tensor in entry.items()
    }


def unflatten_stats(flat: dict[str, torch.Tensor]) -> dict:
    """`{"name/key": tensor}` -> `{name: {key: tensor}}` (the inverse of `flatten_stats`)."""
    stats: dict = {}
    for key, tensor in flat.items():
        name, field = key.rsplit("/", 1)
        stats.setdefault(name, {})[field] = tensor
    return stats


def checkpoint_stats(path: str | Path) -> dict:
    """The data statistics a checkpoint holds under its `stats/` keys."""
    tensors = read_safetensors(path)
    return unflatten_stats(
        {k[len("stats/") :]: v for k, v in tensors.items() if k.startswith("stats/")}
    )
