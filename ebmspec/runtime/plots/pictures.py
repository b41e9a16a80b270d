"""The pictures `ebmspec eval` writes: conditional sample grids and the 2-D density plot.

In: a checked program, its energy model, a `samples grid(...)` or `density plot(...)` report
call, data statistics and (for grids) the run's fitted transforms. Out: the grid's tiles and
labels (`conditional_tiles`, one chain per condition, `pixels.to_pixels`) and the density tables
(`density_panels`); `grid_figure` / `grid_png` and `density_figure` / `density_png` draw them
with matplotlib (rows and columns labelled with the condition values; three panels on one colour
scale with a colour bar); `conditional_grid` is tiles and PNG in one call, as `eval` uses it.
"""

from __future__ import annotations

from typing import NamedTuple

import torch
from matplotlib import colors
from matplotlib.figure import Figure

from ebmspec import ir
from ebmspec.runtime.evaluation.predict import (
    ENERGY_ROWS,
    energy_table,
    hidden_variables,
    label_configurations,
)
from ebmspec.runtime.plots import figures, grids, pixels
from ebmspec.runtime.sampling import sampler as sampling


class ConditionalGrid(NamedTuple):
    """A `samples grid(...)` report: pixels [R, K, C, H, W] in [0, 1] (R values of the row
    variable, K tiles per row) and the labels of the rows and (with `cols`) of the columns, each
    (variable name, one label per row / column)."""

    tiles: torch.Tensor
    rows: tuple[str, list[str]]
    columns: tuple[str, list[str]] | None


def value_text(label: torch.Tensor) -> str:
    """A configuration's label as `eval` names values (`per_value`): `2`, or `101` for an array
    of binaries."""
    flat = label.reshape(-1).tolist()
    return str(flat[0]) if len(flat) == 1 else "".join(str(v) for v in flat)


def conditional_tiles(
    program: ir.Program,
    model,
    report_call: ir.Call,
    stats: dict | None = None,
    device="cpu",
    seed: int = 0,
    columns: int = 8,
    transforms=None,
) -> ConditionalGrid:
    """The tiles of a `grid(rows, cols, steps, sampler)` report: one row per value of `rows`;
    with `cols` one tile per (row value, column value), else `columns` tiles per row. Each tile is
    one chain of `steps` sweeps from the init distribution with that condition clamped, shown as
    the program's image variable (`pixels.to_pixels`; `transforms` is passed on to it)."""
    args = dict(report_call.args)
    rows = label_configurations(program, [args["rows"]])
    condition = {args["rows"]: rows.values[args["rows"]]}
    column_labels = None
    if args.get("cols") is not None:
        cols = label_configurations(program, [args["cols"]])
        width = cols.count
        values = cols.values[args["cols"]]
        condition[args["cols"]] = values.repeat(rows.count, *([1] * (values.dim() - 1)))
        column_labels = (args["cols"], [value_text(v) for v in cols.labels[args["cols"]]])
    else:
        width = columns
    condition[args["rows"]] = condition[args["rows"]].repeat_interleave(width, 0)
    variable = pixels.image_variable(program)
    if variable is None or variable.name in condition:
        raise ValueError("a sample grid needs an image variable ([1 or 3, H, W]) left free")
    state, _ = sampling.sample(
        program,
        model,
        rows.count * width,
        sweeps=int(args["steps"]),
        seed=seed,
        condition={n: v.to(device) for n, v in condition.items()},
        sampler=args.get("sampler"),
        stats=stats,
        device=device,
    )
    shown = pixels.to_pixels(program, variable, state.point.values[variable.name], transforms)
    row_labels = (args["rows"], [value_text(v) for v in rows.labels[args["rows"]]])
    tiles = shown.reshape(rows.count, width, *shown.shape[1:])
    return ConditionalGrid(tiles, row_labels, column_labels)


def grid_png(grid: ConditionalGrid, image: str, format: str = "png") -> bytes:
    """`grid_figure` as PNG or PDF bytes."""
    return figures.render(grid_figure(grid, image), format)


def grid_figure(grid: ConditionalGrid, image: str) -> Figure:
    """The grid's figure: rows labelled with the row variable's values, columns with the column
    variable's (when the report has one), titled with what was sampled."""
    what = f"samples of {image} given {grid.rows[0]}"
    if grid.columns is not None:
        what += f" and {grid.columns[0]}"
    return grids.grid_figure(grid.tiles, what, grid.rows, grid.columns)


def conditional_grid(program: ir.Program, model, report_call: ir.Call, *args, **kwargs) -> bytes:
    """PNG of a `grid(rows, cols, steps, sampler)` report: `conditional_tiles` (same arguments)
    drawn by `grid_png`."""
    grid = conditional_tiles(program, model, report_call, *args, **kwargs)
    return grid_png(grid, pixels.image_variable(program).name)


class DensityPanels(NamedTuple):
    """Three [bins, bins] probability tables over one grid (each sums to 1; entry [i, j] is the
    cell of the i-th interval of the first coordinate and the j-th of the second) and the
    grid's extent ((low_0, high_0), (low_1, high_1))."""

    data: torch.Tensor
    model: torch.Tensor
    samples: torch.Tensor
    extent: tuple


def _histogram(points: torch.Tensor, low: torch.Tensor, high: torch.Tensor, bins: int):
    points = points.detach().double().cpu()
    cell = ((points - low) / (high - low) * bins).floor().long()
    cell = torch.where(points == high, bins - 1, cell)  # the upper edge belongs to the last bin
    inside = ((cell >= 0) & (cell < bins)).all(1)
    cell = cell[inside]
    counts = torch.bincount(cell[:, 0] * bins + cell[:, 1], minlength=bins * bins).double()
    return (counts / counts.sum().clamp_min(1)).reshape(bins, bins)


def density_panels(
    program: ir.Program,
    model,
    report_call: ir.Call,
    data_points: torch.Tensor,
    stats: dict | None = None,
    device="cpu",
    seed: int = 0,
    samples: torch.Tensor | None = None,
    chains: int = 2000,
    sweeps: int | None = None,
) -> DensityPanels:
    """The tables behind `density_png`: data histogram; the model's marginal density of the
    variable, exp(logsumexp of f over every configuration of the discrete variables) at the
    cell midpoints, normalised over the grid; histogram of `samples` (default: the final states
    of `chains` unconditional chains of the default sampler, `sweeps` sweeps)."""
    name, bins = report_call.arg("variable"), int(report_call.arg("bins"))
    variable = program.variable(name)
    if variable.kind != "real" or variable.shape != (2,):
        raise ValueError(f"a density plot needs a real[2] variable, {name!r} is not one")
    points = data_points.detach().double().cpu()
    low, high = points.min(0).values, points.max(0).values
    high = torch.where(high > low, high, low + 1)
    configs = label_configurations(program, hidden_variables(program, (name,), ()))
    centres = [low[d] + (torch.arange(bins) + 0.5) * (high[d] - low[d]) / bins for d in (0, 1)]
    grid = torch.stack(torch.meshgrid(*centres, indexing="ij"), -1).reshape(-1, 2)
    grid = grid.to(device=device, dtype=torch.float32)
    per = max(1, ENERGY_ROWS // configs.count)
    with torch.no_grad():
        log_density = torch.cat(
            [
                energy_table(model, {name: grid[s : s + per]}, configs.values, configs.count)
                .double()
                .logsumexp(-1)
                .cpu()
                for s in range(0, grid.shape[0], per)
            ]
        )
    density = log_density.softmax(0).reshape(bins, bins)
    if samples is None:
        state, _ = sampling.sample(
            program, model, chains, sweeps=sweeps, seed=seed, stats=stats, device=device
        )
        samples = state.point.values[name]
    extent = tuple((float(low[d]), float(high[d])) for d in (0, 1))
    return DensityPanels(
        _histogram(points, low, high, bins), density, _histogram(samples, low, high, bins), extent
    )


def density_png(panels: DensityPanels, name: str, format: str = "png") -> bytes:
    """`density_figure` as PNG or PDF bytes."""
    return figures.render(density_figure(panels, name), format)


def density_figure(panels: DensityPanels, name: str) -> Figure:
    """A `plot(variable, bins)` report's `density_panels` as one figure: data, model density
    and model samples side by side on the same axes (first coordinate across, second up) and one
    colour scale, the probability of each cell on a square-root scale (so the tails of a sharp
    density stay visible), with its colour bar."""
    tables = (panels.data, panels.model, panels.samples)
    titles = ("data (test split)", "model density", "model samples")
    bins = panels.data.shape[0]
    top = max(float(t.max()) for t in tables) or 1.0
    norm = colors.PowerNorm(0.5, vmin=0.0, vmax=top)
    (low0, high0), (low1, high1) = panels.extent
    figure = figures.new_figure(12.5, 4.3)
    axes = figure.subplots(1, 3, sharex=True, sharey=True)
    for ax, table, title in zip(axes, tables, titles, strict=True):
        shown = ax.imshow(
            table.t().numpy(),  # rows of the image = the second coordinate
            origin="lower",
            extent=(low0, high0, low1, high1),
            aspect="auto",
            cmap="magma",
            norm=norm,
            interpolation="nearest",
        )
        ax.set_box_aspect(1)
        ax.set_title(title)
        ax.set_xlabel(f"{name}[0]")
    axes[0].set_ylabel(f"{name}[1]")
    bar = figure.colorbar(shown, ax=list(axes), shrink=0.9)
    bar.set_label("probability per cell (square-root scale)")
    figure.suptitle(f"density of {name}: {bins} x {bins} cells over the test data's range")
    return figure
