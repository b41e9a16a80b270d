"""Image variables as pictures: model values -> pixels -> a grid -> PNG bytes (no Pillow).

In: a checked program and a batch of values of one of its image variables (a real variable of
shape [C, H, W] with C = 1 or 3), as the model sees them. Out: pixels in [0, 1] obtained by
inverting the dataset's transforms with `runtime.data.transforms.Pipeline.inverse` (`logit` ->
sigmoid, `dequantize` -> the level whose bin is centred there, `noise` -> itself, `standardize`
-> its fitted statistics when they are passed in), else by mapping the variable's bounds, else by
min-max normalising the batch; then a padded grid with
ceil(sqrt(n)) columns and the bytes of an 8-bit grey or RGB PNG written with zlib alone.
"""

from __future__ import annotations

import math
import struct
import zlib

import torch
import torch.nn.functional as F
from einops import rearrange

from ebmspec import ir
from ebmspec.runtime.data.transforms import Pipeline, transform_steps

# Datasets whose raw image values are pixel intensities in [0, 1].
PIXEL_DATASETS = frozenset({"dsprites", "mnist"})
PAD = 2
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


def grid_size(count: int, height: int, width: int) -> tuple[int, int]:
    """Pixel (height, width) of the grid of `count` tiles of height x width, padding included."""
    columns = max(1, math.ceil(math.sqrt(count)))
    rows = max(1, math.ceil(count / columns))
    return rows * height + (rows + 1) * PAD, columns * width + (columns + 1) * PAD


def image_grid(pixels: torch.Tensor) -> torch.Tensor:
    """Pixels [N, C, H, W] in [0, 1] -> one uint8 image [H', W', C] with ceil(sqrt(N)) columns
    and PAD grey pixels around every tile; tiles fill the rows left to right."""
    count = pixels.shape[0]
    columns = max(1, math.ceil(math.sqrt(count)))
    rows = max(1, math.ceil(count / columns))
    blank = torch.full((rows * columns - count, *pixels.shape[1:]), PAD_VALUE)
    cells = torch.cat([pixels.float(), blank])
    return tile(rearrange(cells, "(r c) ch h w -> r c ch h w", r=rows))


def tile(pixels: torch.Tensor) -> torch.Tensor:
    """Pixels [R, C, channels, H, W] in [0, 1] -> uint8 [H', W', channels]: R rows of C tiles
    with PAD grey pixels around every tile."""
    framed = F.pad(pixels.float(), (0, PAD, 0, PAD), value=PAD_VALUE)  # right and bottom
    grid = rearrange(framed, "r c ch h w -> (r h) (c w) ch")
    grid = F.pad(grid, (0, 0, PAD, 0, PAD, 0), value=PAD_VALUE)  # the first column and row
    return (grid * 255).round().clamp(0, 255).to(torch.uint8).contiguous()


def _chunk(kind: bytes, data: bytes) -> bytes:
    body = kind + data
    return struct.pack(">I", len(data)) + body + struct.pack(">I", zlib.crc32(body) & 0xFFFFFFFF)


def png_bytes(image: torch.Tensor) -> bytes:
    """An 8-bit PNG of a uint8 image [H, W, C] (C = 1 grey, C = 3 RGB), filter 0 on every row."""
    height, width, channels = image.shape
    color_type = {1: 0, 3: 2}[channels]
    rows = image.reshape(height, width * channels).numpy()
    raw = b"".join(b"\x00" + row.tobytes() for row in rows)
    header = struct.pack(">IIBBBBB", width, height, 8, color_type, 0, 0, 0)
    return (
        b"\x89PNG\r\n\x1a\n"
        + _chunk(b"IHDR", header)
        + _chunk(b"IDAT", zlib.compress(raw, 9))
        + _chunk(b"IEND", b"")
    )


def grid_png(
    program: ir.Program,
    variable: ir.Variable,
    values: torch.Tensor,
    transforms: dict | None = None,
) -> bytes:
    """The PNG of a grid of every chain's value of `variable` (`transforms` as in `to_pixels`)."""
    return png_bytes(image_grid(to_pixels(program, variable, values, transforms)))
