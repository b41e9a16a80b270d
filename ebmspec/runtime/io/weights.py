"""Save and load energy parameters as safetensors (no pickle anywhere).

In: an `EnergyModel` (or its state dict) and a path. Out: a `.safetensors` file written atomically
(temp file + rename), whose metadata names the model. Reading uses `run_files.read_safetensors`,
the torch-only reader the emitted modules carry too.
"""

from __future__ import annotations

from pathlib import Path

import torch
from safetensors.torch import save_file

from ebmspec.runtime.io.checkpoint import write_atomically
from ebmspec.runtime.io.reader import read_safetensors


def save_parameters(model: torch.nn.Module, path: str | Path, model_name: str) -> None:
    state = {k: v.detach().contiguous().cpu() for k, v in model.state_dict().items()}
    header = {"format": "ebmspec-energy", "model": model_name}
    write_atomically(Path(path), lambda temp: save_file(state, temp, metadata=header))


def load_parameters(model: torch.nn.Module, path: str | Path) -> None:
    """Load weights `save_parameters` wrote, with the reader the emitted modules use."""
    model.load_state_dict(read_safetensors(path))
