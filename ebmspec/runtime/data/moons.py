"""moons: two interleaving half circles with a binary label, a fresh batch every iteration.

In: `noise` (the std of the Gaussian noise added to each point), `test` (a count) and the seed.
Out: points x [N, 2] (float32) and the moon y [N] (int64, 0 = upper, 1 = lower), drawn as
scikit-learn's `make_moons` draws them: the upper moon (cos t, sin t) and the lower moon
(1 - cos t, 1/2 - sin t), t ~ U(0, pi), each label with probability 1/2, plus N(0, noise^2 I).
A small two-class density with curved, touching classes: the joint EBM of x and y on a laptop
in seconds, where its density and its class boundary can both be drawn.
"""

from __future__ import annotations

import math

import torch

from ebmspec.runtime.data.base import Context, Tensors
from ebmspec.runtime.seeding import stream
from ebmspec.semantic.data import Field
from ebmspec.semantic.registry.signatures import Param as P
from ebmspec.semantic.registry.signatures import Signature

# `data moons(...)`: the registry row the checker binds the arguments to; `fields` says what it
# provides. Both are declared in `semantic.registry.DATASETS` by `runtime.data`.
# Every training batch is drawn afresh from the generative process (no fixed rows).
DRAWN = True

SIGNATURE = Signature(
    "moons",
    (P("noise", "nonneg_float", 0.1), P("test", "posint", 2000)),
    "two interleaving half circles with a binary label (as scikit-learn's make_moons), "
    "N(0, noise^2) added; a fresh batch every iteration",
)

MOONS_TRAIN_SIZE = 100_000  # the fixed draw kept for statistics (transform fits, data ranges)


def fields(args: dict) -> dict[str, Field]:
    """The variables this dataset provides (kind, shape, categories), given its arguments."""
    return {"x": ("real", (2,), None), "y": ("categorical", (), 2)}


def draw_moons(size: int, generator: torch.Generator, noise: float) -> Tensors:
    """`size` fresh points; draw order from `generator`: labels, angles, noise."""
    device = generator.device
    y = torch.randint(2, (size,), generator=generator, device=device).cpu()
    t = math.pi * torch.rand(size, generator=generator, device=device).cpu()
    upper = torch.stack([torch.cos(t), torch.sin(t)], 1)
    lower = torch.stack([1 - torch.cos(t), 0.5 - torch.sin(t)], 1)
    x = torch.where(y[:, None] == 0, upper, lower)
    x = x + noise * torch.randn(size, 2, generator=generator, device=device).cpu()
    return {"x": x, "y": y}


def load(context: Context):
    noise = float(context.args["noise"])

    def draw(size: int, generator: torch.Generator) -> Tensors:
        return draw_moons(size, generator, noise)

    train = draw(MOONS_TRAIN_SIZE, stream(context.seed, "dataset_train"))
    test = draw(context.args["test"], stream(context.seed, "dataset_test"))
    description = (
        f"moons: two half circles with a binary label (noise {noise:g}), a fresh batch every "
        f"step, {context.args['test']:,} test points"
    )
    return description, train, test, draw, MOONS_TRAIN_SIZE
