"""Save and load energy parameters as safetensors (no pickle anywhere).

In: an `EnergyModel` (or its state dict) and a path. Out: a `.safetensors` file written atomically
(temp file + rename), whose metadata names the model; the emitted standalone module reads the same
file with its own small torch-only reader.
"""

from __future__ import annotations

import os
import tempfile
from pathlib import Path

import torch
from safetensors.torch import load_file, save_file


def save_parameters(model: torch.nn.Module, path: str | Path, model_name: str) -> None:
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    state = {k: v.detach().contiguous().cpu() for k, v in model.state_dict().items()}
    handle, temp = tempfile.mkstemp(prefix=path.name, suffix=".tmp", dir=path.parent)
    os.close(handle)
    mask = os.umask(0)
    os.umask(mask)
    os.chmod(temp, 0o666 & ~mask)  # mkstemp makes it private; weights are ordinary output
    try:
        save_file(state, temp, metadata={"format": "ebmspec-energy", "model": model_name})
        os.replace(temp, path)
    except BaseException:
        Path(temp).unlink(missing_ok=True)
        raise


def load_parameters(model: torch.nn.Module, path: str | Path) -> None:
    model.load_state_dict(load_file(str(path)))
