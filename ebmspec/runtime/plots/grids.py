"""Sample grids as figures: tiles of images, enlarged without smoothing, labelled when conditioned.

In: pixels [R, K, C, H, W] in [0, 1] (R rows of K tiles, C = 1 grey or 3 RGB) and optionally one
label per row and per column (the condition values), or a program, an image variable and a batch
of its values (`grid_png`, what `ebmspec sample -o grid.png` writes). Out: a matplotlib `Figure`
or its PNG/PDF bytes: the padded mosaic (`pixels.mosaic`) shown at an integer zoom with
nearest-neighbour interpolation, so every image pixel is a sharp square block.
"""

from __future__ import annotations

import torch
from matplotlib.figure import Figure

from ebmspec import ir
from ebmspec.runtime.plots import figures, pixels

TARGET = 720  # pixels of the mosaic's longer side after enlarging (about 6 inches)
MAX_ZOOM = 16


def zoom(height: int, width: int) -> int:
    """The integer enlargement that brings a height x width mosaic near TARGET pixels (never
    shrinks it: a large grid stays at one screen pixel per image pixel)."""
    return max(1, min(MAX_ZOOM, TARGET // max(height, width)))


def grid_figure(
    tiles: torch.Tensor,
    title: str | None = None,
    rows: tuple[str, list[str]] | None = None,
    columns: tuple[str, list[str]] | None = None,
) -> Figure:
    """The mosaic of `tiles` [R, K, C, H, W]; `rows` / `columns` = (what they show, one label
    per row / column), written beside the rows and above the columns."""
    count_rows, count_columns, _, height, width = tiles.shape
    image = pixels.mosaic(tiles)
    scale = zoom(*image.shape[:2]) / figures.DPI  # inches per image pixel
    extra_w = 0.3 + (1.1 if rows else 0.0)  # room for the row labels and their name
    extra_h = 0.3 + (0.35 if title else 0.0) + (0.6 if columns else 0.0)
    size = (max(3.0, image.shape[1] * scale + extra_w), max(1.5, image.shape[0] * scale + extra_h))
    figure = figures.new_figure(*size)
    axes = figure.add_subplot()
    grey = image.ndim == 2
    axes.imshow(image, cmap="gray" if grey else None, vmin=0, vmax=1, interpolation="nearest")
    step_h, step_w = height + pixels.PAD, width + pixels.PAD
    centre_h, centre_w = pixels.PAD + (height - 1) / 2, pixels.PAD + (width - 1) / 2
    if rows:
        name, labels = rows
        axes.set_yticks([centre_h + r * step_h for r in range(count_rows)], labels)
        axes.set_ylabel(name)
    else:
        axes.set_yticks([])
    if columns:
        name, labels = columns
        axes.xaxis.tick_top()
        axes.xaxis.set_label_position("top")
        axes.set_xticks([centre_w + k * step_w for k in range(count_columns)], labels)
        axes.set_xlabel(name)
    else:
        axes.set_xticks([])
    axes.tick_params(length=0)
    for spine in axes.spines.values():
        spine.set_visible(False)
    if title:
        axes.set_title(title, fontsize=10)
    return figure


def grid_png(
    program: ir.Program,
    variable: ir.Variable,
    values: torch.Tensor,
    transforms: dict | None = None,
    format: str = "png",
) -> bytes:
    """A square grid of every chain's value of `variable` (`transforms` as in
    `pixels.to_pixels`), as PNG or PDF bytes."""
    shown = pixels.to_pixels(program, variable, values, transforms)
    title = f"{shown.shape[0]} samples of {variable.name} ({program.name})"
    return figures.render(grid_figure(pixels.square(shown), title), format)
