"""Recording the draws of a sampling run (`ebmspec sample --trace`).

In: the variable table, the names of the free variables, the number of chains and `Kept` (which
sweeps are draws: those after the warm-up, every `thin`-th). Out: `Recorder`, a sampler callback
that copies each kept sweep's state into preallocated host buffers, and gives back one
[chain, draw, *shape] tensor per variable: categoricals as integer codes, binaries as 0/1
integers, reals as they are (`codes`, which `ebmspec sample -o s.npz` also uses for the final
state). `trace_bytes` estimates the buffers' size before the run, so a trace that would not fit
can be refused before any sweep runs.

The copy is one `copy_` per variable and kept sweep, asynchronous from a CUDA device into pinned
memory: no `.item()`, no loop over chains, nothing that waits for the device until `draws`.
"""

from __future__ import annotations

import math
from typing import NamedTuple

import torch

CODE_BYTES = 8  # categoricals and binaries are kept as int64 codes (as `codes` returns them)
REAL_BYTES = 4  # reals in the model's float32


class Kept(NamedTuple):
    """The sweeps kept as draws: of `sweeps`, those from `warmup` on (0-based), every `thin`-th."""

    sweeps: int
    warmup: int
    thin: int = 1

    @property
    def draws(self) -> int:
        return max(0, math.ceil((self.sweeps - self.warmup) / self.thin))

    def draw(self, sweep: int) -> int | None:
        """The draw index of the 0-based `sweep`, None for a sweep that is not kept."""
        if sweep < self.warmup or (sweep - self.warmup) % self.thin:
            return None
        return (sweep - self.warmup) // self.thin


def codes(variable, value: torch.Tensor) -> torch.Tensor:
    """Categoricals (one-hot in model space) as integer codes, binaries as 0/1 integers, reals as
    they are; `variable` is anything with a `kind` (a program's variable or a table row)."""
    if variable.kind == "categorical":
        return value.argmax(-1)
    return value.round().long() if variable.kind == "binary" else value


def trace_bytes(variables: dict, names, chains: int, kept: Kept) -> int:
    """The bytes the trace of `names` will take: chains x draws x elements x item size."""
    total = 0
    for name in names:
        variable = variables[name]
        size = REAL_BYTES if variable.kind == "real" else CODE_BYTES
        total += size * math.prod(variable.shape)
    return total * chains * kept.draws


class Recorder:
    """A sampler callback keeping the draws of `names` as `Kept` says, on the host."""

    def __init__(self, variables: dict, names, kept: Kept):
        self.variables = variables
        self.names = list(names)
        self.kept = kept
        self.sweep = 0  # sweeps seen so far (the callback runs once after each)
        self.recorded = 0  # draws copied so far
        self.buffers: dict[str, torch.Tensor] = {}  # [draw, chain, *shape]: one block per copy
        self.device: torch.device | None = None

    def __call__(self, state) -> None:
        draw = self.kept.draw(self.sweep)
        self.sweep += 1
        if draw is None:
            return
        for name in self.names:
            value = codes(self.variables[name], state.point.values[name].detach())
            buffer = self.buffers.get(name)
            if buffer is None:
                self.device = value.device
                buffer = torch.empty(
                    (self.kept.draws, *value.shape),
                    dtype=value.dtype,
                    pin_memory=value.device.type == "cuda",
                )
                self.buffers[name] = buffer
            buffer[draw].copy_(value, non_blocking=True)
        self.recorded = draw + 1

    def draws(self) -> dict[str, torch.Tensor]:
        """{name: [chain, draw, *shape]} on the CPU (a transposed view of the buffers), of the
        draws recorded (fewer than `Kept.draws` when the run stopped early)."""
        if self.device is not None and self.device.type == "cuda":
            torch.cuda.synchronize(self.device)  # the asynchronous copies have landed
        return {
            name: buffer[: self.recorded].transpose(0, 1) for name, buffer in self.buffers.items()
        }
