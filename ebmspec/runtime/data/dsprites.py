"""dsprites: the official .npz (`file`), or ellipses rendered on the same latent grid; see the
package docstring for how the rendered ones differ.
"""

from __future__ import annotations

import math
import zipfile
import zlib
from pathlib import Path

import numpy as np
import torch

from ebmspec.runtime.data.base import (
    Context,
    Tensors,
    resize_images,
    resolve_file,
    split_rows,
    unreadable,
)
from ebmspec.semantic.data import Field
from ebmspec.semantic.registry.signatures import Param as P
from ebmspec.semantic.registry.signatures import Signature

# `data dsprites(...)`: the registry row the checker binds the arguments to; `fields` says what it
# provides. Both are declared in `semantic.registry.DATASETS` by `runtime.data`.
SIGNATURE = Signature(
    "dsprites",
    (
        P("file", "string?", None),
        P("shape", "string", "ellipse", choices=("square", "ellipse", "heart")),
        P("size", "posint", 32),
        P("position_bins", "posint", 16),
        P("test", "posint", 2500),
    ),
    "dSprites positions: official .npz if `file` is given, else rendered procedurally",
)


def fields(args: dict) -> dict[str, Field]:
    """The variables this dataset provides (kind, shape, categories), given its arguments."""
    size, bins = args["size"], args["position_bins"]
    return {
        "x": ("real", (1, size, size), None),
        "x_pos": ("categorical", (), bins),
        "y_pos": ("categorical", (), bins),
    }


DSPRITES_SHAPES = ("square", "ellipse", "heart")  # the official shape classes 0, 1, 2
# Orientation classes within 5 degrees of a multiple of 90 (the official 40 angles are
# k * 2pi/39, k = 0..39, so class 39 is 360 degrees again), as in the paper.
DSPRITES_ORIENTATIONS = (0, 9, 10, 19, 20, 29, 30, 39)
DSPRITES_POSITIONS = 32
DSPRITES_SCALES = 6
# Procedural geometry on the 64 x 64 canvas, in pixels (pixel i spans [i, i + 1)).
ELLIPSE_SEMI_AXES = (10.0, 5.0)  # at scale 1: 20 x 10 pixels, the long axis along x at angle 0
SUPERSAMPLE = 4
POSITION_FIRST, POSITION_STEP = 12.625, 1.25  # centres 12.625 .. 51.375 px = 0.20 .. 0.80 canvas


def _dsprites_labels(pos_x: torch.Tensor, pos_y: torch.Tensor, bins: int) -> Tensors:
    return {
        "x_pos": pos_x * bins // DSPRITES_POSITIONS,
        "y_pos": pos_y * bins // DSPRITES_POSITIONS,
    }


def _render_ellipses(size: int) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Every (scale, orientation, posX, posY) ellipse of the official latent grid, in the
    official row order (posY fastest): images float [49152, 1, size, size], posX and posY classes.

    Each sprite is rendered once on a 4x-supersampled grid centred on a sub-pixel (coverage =
    the fraction of the 16 sub-pixel centres inside the ellipse). Since the centres step by
    exactly 5 sub-pixels, placing it at a position and averaging the sub-pixels into 64 x 64
    pixels is a linear map per axis, so all 1,024 positions of a sprite come out of two einsums.
    The 64 x 64 images are then resized to `size` as the official ones are.
    """
    semi_a, semi_b = ELLIPSE_SEMI_AXES
    radius = math.ceil(semi_a * SUPERSAMPLE) + 2
    offsets = (torch.arange(2 * radius + 1) - radius).float() / SUPERSAMPLE
    row, col = torch.meshgrid(offsets, offsets, indexing="ij")
    scales = torch.linspace(0.5, 1.0, DSPRITES_SCALES)[:, None, None, None]
    classes = torch.tensor(DSPRITES_ORIENTATIONS) % 39  # class 39 is 2pi: exactly class 0
    angles = classes[None, :, None, None] * (2 * math.pi / 39)
    # y grows downwards (image rows); angle 0 puts the long axis along x
    along = col * torch.cos(angles) + row * torch.sin(angles)
    across = -col * torch.sin(angles) + row * torch.cos(angles)
    inside = (along / (semi_a * scales)) ** 2 + (across / (semi_b * scales)) ** 2 <= 1
    sprites = inside.float().reshape(-1, 2 * radius + 1, 2 * radius + 1)
    # place[k, p, m]: the share of fine-grid sample m of a sprite at position k in pixel p
    centre = (POSITION_FIRST * SUPERSAMPLE - 0.5) + POSITION_STEP * SUPERSAMPLE * torch.arange(
        DSPRITES_POSITIONS
    )
    fine = centre.round().long()[:, None] - radius + torch.arange(2 * radius + 1)
    place = (fine[:, None, :] // SUPERSAMPLE == torch.arange(64)[None, :, None]).float()
    place /= SUPERSAMPLE
    images = []
    for sprite in sprites:
        rows = torch.einsum("kpm,mn->kpn", place, sprite)  # [posY, 64, fine x]
        canvas = torch.einsum("kpn,lqn->lkpq", rows, place)  # [posX, posY, 64, 64]
        images.append(resize_images(canvas.reshape(-1, 1, 64, 64), size))
    positions = torch.arange(DSPRITES_POSITIONS)
    pos_x = positions.repeat_interleave(DSPRITES_POSITIONS).repeat(len(sprites))
    pos_y = positions.repeat(DSPRITES_POSITIONS * len(sprites))
    return torch.cat(images), pos_x, pos_y


def _read_npy_rows(member, keep: np.ndarray, count: int, chunk: int = 8192) -> np.ndarray:
    """The rows of an .npy stream (an npz member) where `keep` is true, read in chunks so the
    official file's 3 GB of images are never held at once."""
    version = np.lib.format.read_magic(member)
    if version == (1, 0):
        shape, fortran, dtype = np.lib.format.read_array_header_1_0(member)
    else:
        shape, fortran, dtype = np.lib.format.read_array_header_2_0(member)
    if fortran or dtype.hasobject or len(shape) != 3 or shape[0] != count:
        raise ValueError(f"imgs has shape {shape} and dtype {dtype}, expected [{count}, 64, 64]")
    row_bytes = dtype.itemsize * shape[1] * shape[2]
    kept = []
    for start in range(0, count, chunk):
        rows = min(chunk, count - start)
        buffer = member.read(rows * row_bytes)
        if len(buffer) != rows * row_bytes:
            raise EOFError("imgs is truncated")
        block = np.frombuffer(buffer, dtype).reshape(rows, shape[1], shape[2])
        kept.append(block[keep[start : start + rows]])
    return np.concatenate(kept)


def _read_dsprites(context: Context, path: Path, shape_class: int):
    """Images (kept rows), posX and posY classes of one shape from the official .npz layout."""
    help = (
        "`file` should be dsprites_ndarray_co1sh3sc6or40x32y32_64x64.npz "
        "(github.com/deepmind/dsprites-dataset)"
    )
    try:
        with zipfile.ZipFile(path) as archive:
            names = {name.removesuffix(".npy") for name in archive.namelist()}
            missing = [key for key in ("imgs", "latents_classes") if key not in names]
            if missing:
                raise context.fail(
                    "E622",
                    f"`{path}` has no array {' or '.join(f'`{k}`' for k in missing)} "
                    f"(it holds {', '.join(f'`{n}`' for n in sorted(names)) or 'nothing'})",
                    help,
                )
            with archive.open("latents_classes.npy") as member:
                latents = np.lib.format.read_array(member, allow_pickle=False)
            if latents.ndim != 2 or latents.shape[1] != 6 or latents.dtype.kind not in "iu":
                raise context.fail(
                    "E623",
                    f"`latents_classes` in `{path}` has shape {list(latents.shape)} and dtype "
                    f"{latents.dtype}, expected integers [N, 6]",
                    help,
                )
            keep = (latents[:, 1] == shape_class) & np.isin(latents[:, 3], DSPRITES_ORIENTATIONS)
            with archive.open("imgs.npy") as member:
                try:
                    imgs = _read_npy_rows(member, keep, len(latents))
                except ValueError as error:
                    raise context.fail("E623", f"in `{path}`: {error}", help) from None
    except (OSError, zipfile.BadZipFile, EOFError, ValueError, zlib.error) as error:
        raise unreadable(context, path, error, help) from None
    positions = latents[keep][:, 4:6]
    if len(imgs) == 0:
        raise context.fail(
            "E630",
            f"`{path}` holds no {DSPRITES_SHAPES[shape_class]} at the orientation classes "
            f"{list(DSPRITES_ORIENTATIONS)}",
            help,
        )
    if positions.min() < 0 or positions.max() >= DSPRITES_POSITIONS:
        raise context.fail(
            "E623",
            f"position classes in `{path}` range over {positions.min()}..{positions.max()}, "
            f"expected 0..{DSPRITES_POSITIONS - 1}",
            help,
        )
    images = torch.from_numpy(imgs.astype(np.float32))[:, None]
    if images.max() > 1:  # the official sprites are 0/1; accept 0..255 too
        images /= 255
    positions = torch.from_numpy(positions.astype(np.int64))
    return images, positions[:, 0], positions[:, 1]


def load(context: Context):
    args = context.args
    size, bins, shape = args["size"], args["position_bins"], args["shape"]
    if bins > DSPRITES_POSITIONS:
        raise context.fail(
            "E629",
            f"dSprites has {DSPRITES_POSITIONS} positions per axis, so at most "
            f"{DSPRITES_POSITIONS} position bins, not {bins}",
            f"set `position_bins` to a divisor of {DSPRITES_POSITIONS}, e.g. 16",
        )
    if args["file"] is not None:
        path = resolve_file(context, args["file"])
        images, pos_x, pos_y = _read_dsprites(context, path, DSPRITES_SHAPES.index(shape))
        images = resize_images(images, size)
        what, where = f"{shape}s from {path.name}", path
    elif shape != "ellipse":
        raise context.fail(
            "E629",
            f"only ellipses are rendered procedurally, not {shape}s",
            'name the official file: `data dsprites(file = "dsprites_ndarray_co1sh3sc6or40x32y32'
            '_64x64.npz", ...)`, or use `shape = "ellipse"`',
        )
    else:
        images, pos_x, pos_y = _render_ellipses(size)
        what, where = "procedurally rendered ellipses", "the procedural dSprites"
    values = {"x": images, **_dsprites_labels(pos_x, pos_y, bins)}
    train, test = split_rows(context, values, args["test"], where)
    description = (
        f"dSprites, {what} ({len(images):,} train+test, {args['test']:,} test), "
        f"{size}x{size}, {bins}x{bins} position bins"
    )
    return description, train, test, None, None
