"""Save and load energy parameters as safetensors (no pickle anywhere).

In: an `EnergyModel` (or its state dict) and a path. Out: a `.safetensors` file written atomically
(temp file + rename), whose metadata names the model; the emitted standalone module reads the same
file with its own small torch-only reader.
"""

from __future__ import annotations

from pathlib import Path

import torch
from safetensors.torch import load_file, save_file

from ebmspec.runtime.checkpoint import write_atomically


def save_parameters(model: torch.nn.Module, path: str | Path, model_name: str) -> None:
    state = {k: v.detach().contiguous().cpu() for k, v in model.state_dict().items()}
    header = {"format": "ebmspec-energy", "model": model_name}
    write_atomically(Path(path), lambda temp: save_file(state, temp, metadata=header))


def load_parameters(model: torch.nn.Module, path: str | Path) -> None:
    model.load_state_dict(load_file(str(path)))
