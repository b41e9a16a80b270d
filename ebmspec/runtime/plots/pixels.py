"""Image variables as pixels: model values -> pixels in [0, 1] -> one padded mosaic array.

In: a checked program and a batch of values of one of its image variables (a real variable of
shape [C, H, W] with C = 1 or 3), as the model sees them. Out: pixels in [0, 1] obtained by
inverting the dataset's transforms with `runtime.data.transforms.Pipeline.inverse` (`logit` ->
sigmoid, `dequantize` -> the level whose bin is centred there, `noise` -> itself, `standardize`
-> its fitted statistics when they are passed in), else by mapping the variable's bounds, else by
min-max normalising the batch; and `mosaic`, the tiles of a grid in one float array with grey
padding around every tile (what `grids` shows).
"""

from __future__ import annotations

import math

import numpy as np
import torch
import torch.nn.functional as F
from einops import rearrange

from ebmspec import ir
from ebmspec.runtime.data.transforms import Pipeline, transform_steps

# Datasets whose raw image values are pixel intensities in [0, 1].
PIXEL_DATASETS = frozenset({"dsprites", "mnist"})
PAD = 1  # grey pixels between tiles, in the images' own resolution
PAD_VALUE = 0.5


def image_variable(program: ir.Program) -> ir.Variable | None:
    """The first real variable shaped like an image, [1, H, W] or [3, H, W]."""
    return next(
        (
            v
            for v in program.variables
            if v.kind == "real" and len(v.shape) == 3 and v.shape[0] in (1, 3)
        ),
        None,
    )


def _pipeline(
    data: ir.Dataset | None, variable: ir.Variable, transforms: dict | None
) -> Pipeline | None:
    """The variable's transform pipeline: the fitted one passed in (a `Pipeline` or its
    `state()`), else an unfitted one built from the `data` line (None without transforms)."""
    given = (transforms or {}).get(variable.name)
    if isinstance(given, Pipeline):
        return given
    steps = transform_steps(data, variable.name) if data is not None else ()
    if not steps:
        return None
    return Pipeline(steps, state=given) if given is not None else Pipeline(steps)


def to_pixels(
    program: ir.Program,
    variable: ir.Variable,
    values: torch.Tensor,
    transforms: dict | None = None,
) -> torch.Tensor:
    """Values [N, C, H, W] of `variable` -> float pixels in [0, 1], on the CPU.

    `transforms` maps variable names to their fitted `Pipeline` (or its `state()`), which
    `standardize` needs to be inverted; without it such a pipeline falls back to the bounds or
    the batch's range."""
    x = values.detach().to("cpu", torch.float32)
    data = program.data
    pipeline = _pipeline(data, variable, transforms)
    pixel_data = data is not None and data.source.name in PIXEL_DATASETS
    if pipeline is not None and pipeline.fitted:
        return pipeline.inverse(x).clamp(0, 1)
    if pipeline is None and pixel_data:
        return x.clamp(0, 1)
    if variable.low is not None and variable.high > variable.low:
        return ((x - variable.low) / (variable.high - variable.low)).clamp(0, 1)
    x = torch.nan_to_num(x)
    low, high = x.min(), x.max()
    return (x - low) / (high - low) if high > low else torch.full_like(x, 0.5)


def square(pixels: torch.Tensor) -> torch.Tensor:
    """Pixels [N, C, H, W] -> [R, K, C, H, W] with K = ceil(sqrt(N)) columns, filled row by row;
    the cells past N are grey."""
    count = pixels.shape[0]
    columns = max(1, math.ceil(math.sqrt(count)))
    rows = max(1, math.ceil(count / columns))
    blank = torch.full((rows * columns - count, *pixels.shape[1:]), PAD_VALUE)
    return rearrange(torch.cat([pixels.float(), blank]), "(r k) c h w -> r k c h w", r=rows)


def mosaic(pixels: torch.Tensor) -> np.ndarray:
    """Pixels [R, K, C, H, W] in [0, 1] -> one float array [R*H + (R+1)*PAD, K*W + (K+1)*PAD]
    (grey) or [..., 3] (RGB): tile (r, k) has its top-left pixel at (PAD + r*(H + PAD),
    PAD + k*(W + PAD))."""
    framed = F.pad(pixels.float(), (0, PAD, 0, PAD), value=PAD_VALUE)  # right and bottom
    grid = rearrange(framed, "r k c h w -> (r h) (k w) c")
    grid = F.pad(grid, (0, 0, PAD, 0, PAD, 0), value=PAD_VALUE)  # the first column and row
    array = grid.clamp(0, 1).numpy()
    return array[..., 0] if array.shape[-1] == 1 else array
