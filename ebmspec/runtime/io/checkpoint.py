"""Checkpoints: one safetensors file of named tensors plus a JSON header, written atomically.

In: `{key: tensor}` (weights, EMA weights, optimizer moments, replay buffer, generator states,
data statistics) and a JSON-able dict (iteration, learning-rate scale, optimizer hyper-parameters,
best metrics). Out: `path` replaced in one `os.replace` after the bytes reached the disk, so a
`kill -9` at any moment leaves either the previous checkpoint or the new one, never half of one.
Loading never unpickles anything; a truncated or foreign file is a `CheckpointError`.
"""

from __future__ import annotations

import json
import os
import tempfile
from pathlib import Path

import torch
from safetensors import SafetensorError, safe_open
from safetensors.torch import load_file, save_file

from ebmspec.runtime.io import strict_json

FORMAT = "ebmspec-checkpoint"
VERSION = 1


class CheckpointError(Exception):
    """A checkpoint that cannot be read: missing, truncated, or not written by ebmspec."""


def write_atomically(path: Path, write) -> None:
    """The one way ebmspec writes a file: `write` (text, bytes, or a function called with the
    temp path) goes to a temp file beside `path`, which gets ordinary permissions (mkstemp makes
    it private), reaches the disk, and is renamed over `path`; a crash leaves no half file."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    handle, temp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    os.close(handle)
    try:
        if isinstance(write, bytes):
            Path(temp).write_bytes(write)
        elif isinstance(write, str):
            Path(temp).write_text(write, encoding="utf-8")
        else:
            write(temp)
        os.chmod(temp, 0o666 & ~_umask())
        with open(temp, "rb") as stream:
            os.fsync(stream.fileno())
        os.replace(temp, path)
    except BaseException:
        Path(temp).unlink(missing_ok=True)
        raise


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


def save_checkpoint(path: Path, tensors: dict[str, torch.Tensor], meta: dict) -> None:
    state = {k: v.detach().contiguous().cpu() for k, v in tensors.items()}
    header = {"format": FORMAT, "version": str(VERSION), "meta": strict_json.dumps(meta)}
    write_atomically(path, lambda temp: save_file(state, temp, metadata=header))


def save_json(path: Path, content: dict) -> None:
    text = strict_json.dumps(content, indent=2, sort_keys=True) + "\n"
    write_atomically(path, text)


def read_meta(path: Path) -> dict:
    """The JSON meta of a checkpoint, without reading its tensors."""
    path = Path(path)
    if not path.is_file():
        raise CheckpointError(f"no checkpoint at {path}")
    try:
        with safe_open(str(path), framework="pt") as handle:
            header = handle.metadata() or {}
    except (SafetensorError, OSError, ValueError) as error:
        raise CheckpointError(f"{path} is not a readable checkpoint ({error})") from None
    if header.get("format") != FORMAT:
        raise CheckpointError(f"{path} was not written by `ebmspec train`")
    try:
        return json.loads(header["meta"])
    except (KeyError, json.JSONDecodeError) as error:
        raise CheckpointError(f"{path} has a damaged header ({error})") from None


def load_checkpoint(path: Path) -> tuple[dict[str, torch.Tensor], dict]:
    meta = read_meta(path)
    try:
        tensors = load_file(str(path))
    except (SafetensorError, OSError, ValueError) as error:
        raise CheckpointError(f"{path} is not a readable checkpoint ({error})") from None
    return tensors, meta


def with_prefix(prefix: str, tensors: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    return {f"{prefix}/{key}": value for key, value in tensors.items()}


def under(prefix: str, tensors: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    """The entries saved `with_prefix(prefix, ...)`, prefix removed."""
    start = len(prefix) + 1
    return {key[start:]: value for key, value in tensors.items() if key.startswith(prefix + "/")}


def optimizer_tensors(optimizer: torch.optim.Optimizer) -> tuple[dict, list]:
    """Optimizer state as flat tensors plus its JSON-able param groups."""
    state = optimizer.state_dict()
    tensors = {}
    for index, entry in state["state"].items():
        for key, value in entry.items():
            tensors[f"{index}/{key}"] = torch.as_tensor(value)
    groups = [
        {k: list(v) if isinstance(v, tuple) else v for k, v in group.items()}
        for group in state["param_groups"]
    ]
    return tensors, groups


def restore_optimizer(optimizer: torch.optim.Optimizer, tensors: dict, groups: list) -> None:
    entries: dict = {}
    for key, value in tensors.items():
        index, name = key.split("/", 1)
        entries.setdefault(int(index), {})[name] = value
    restored = []
    for group in groups:
        restored.append({k: tuple(v) if k == "betas" else v for k, v in group.items()})
    optimizer.load_state_dict({"state": entries, "param_groups": restored})
