"""Where kernels' random numbers come from: a `torch.Generator`, or a tape of them drawn ahead.

In: a generator (or a `Draws` tape) and a shape. Out: N(0, 1) or U[0, 1) tensors. Every kernel
draws through `normal` and `uniform`, so that a sweep can be captured as one graph
(runtime/sampling/capture.py): a graph cannot hold a generator, but it can read a tape drawn from
one in the same order. Torch-only: the body below the marker is copied into emitted modules.
"""

from __future__ import annotations

import torch

# --- begin standalone ---


class Draws:
    """A sweep's random numbers as a tape, for a sweep captured as one graph
    (runtime/sampling/capture.py).

    Kernels draw through `normal` and `uniform` below, whose `generator` is a `torch.Generator` or
    a `Draws`. Recording (`Draws(generator)`): each call draws from the generator as it would
    and notes (kind, shape) in `plan`. Replaying (`Draws(None, tensors)`): each call returns the
    next tensor, drawn ahead by `draw_plan` from the same generator in the same order - so a
    captured sweep, which cannot hold a generator, gets the numbers an eager sweep would."""

    def __init__(self, generator, tensors=None):
        self.generator = generator
        self.tensors = tensors
        self.plan: list = []
        self.index = 0

    def take(self, kind: str, shape, device) -> torch.Tensor:
        shape = (shape,) if isinstance(shape, int) else tuple(shape)
        if self.tensors is None:
            self.plan.append((kind, shape))
            return _draw(kind, shape, self.generator, device)
        tensor = self.tensors[self.index]
        if tuple(tensor.shape) != shape:
            raise RuntimeError(
                f"draw {self.index}: the tape holds {tuple(tensor.shape)}, not {shape}"
            )
        self.index += 1
        return tensor


def _draw(kind: str, shape, generator, device) -> torch.Tensor:
    if kind == "normal":
        return torch.randn(shape, generator=generator, device=device)
    return torch.rand(shape, generator=generator, device=device)


def draw_plan(plan, generator, device) -> list:
    """The tensors of a recorded `plan`, drawn from `generator` in its order."""
    return [_draw(kind, shape, generator, device) for kind, shape in plan]


def normal(shape, generator, device) -> torch.Tensor:
    """Standard normal draws from `generator` (a `torch.Generator` or a `Draws` tape)."""
    if isinstance(generator, Draws):
        return generator.take("normal", shape, device)
    return torch.randn(shape, generator=generator, device=device)


def uniform(shape, generator, device) -> torch.Tensor:
    """U[0, 1) draws from `generator` (a `torch.Generator` or a `Draws` tape)."""
    if isinstance(generator, Draws):
        return generator.take("uniform", shape, device)
    return torch.rand(shape, generator=generator, device=device)
