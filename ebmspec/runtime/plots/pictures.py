"""The pictures `ebmspec eval` writes: conditional sample grids and the 2-D density plot.

In: a checked program, its energy model, a `samples grid(...)` or `density plot(...)` report
call, data statistics and (for grids) the run's fitted transforms. Out: PNG bytes; grids tile one
chain per condition (`images.to_pixels`), the density plot shows data, model density and model
samples side by side, labelled (`lettering.labelled_panels`).
"""

from __future__ import annotations

from typing import NamedTuple

import torch

from ebmspec import ir
from ebmspec.runtime.evaluation.predict import (
    ENERGY_ROWS,
    energy_table,
    hidden_variables,
    label_configurations,
)
from ebmspec.runtime.plots import lettering
from ebmspec.runtime.plots import png as images
from ebmspec.runtime.sampling import sampler as sampling

# Colour map of the density panels (black -> purple -> red -> orange -> pale yellow).
COLOURS = ((0.0, 0.0, 0.0), (0.34, 0.06, 0.43), (0.85, 0.27, 0.2), (0.99, 0.65, 0.1), (1, 1, 0.7))


def conditional_grid(
    program: ir.Program,
    model,
    report_call: ir.Call,
    stats: dict | None = None,
    device="cpu",
    seed: int = 0,
    columns: int = 8,
    transforms=None,
) -> bytes:
    """PNG of a `grid(rows, cols, steps, sampler)` report: one row per value of `rows`; with
    `cols` one tile per (row value, column value), else `columns` tiles per row. Each tile is
    one chain of `steps` sweeps from the init distribution with that condition clamped, shown as
    the program's image variable (`images.to_pixels`; `transforms` is passed on to it)."""
    args = dict(report_call.args)
    rows = label_configurations(program, [args["rows"]])
    condition = {args["rows"]: rows.values[args["rows"]]}
    if args.get("cols") is not None:
        cols = label_configurations(program, [args["cols"]])
        width = cols.count
        values = cols.values[args["cols"]]
        condition[args["cols"]] = values.repeat(rows.count, *([1] * (values.dim() - 1)))
    else:
        width = columns
    condition[args["rows"]] = condition[args["rows"]].repeat_interleave(width, 0)
    variable = images.image_variable(program)
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
    pixels = images.to_pixels(program, variable, state.point.values[variable.name], transforms)
    return images.png_bytes(images.tile(pixels.reshape(rows.count, width, *pixels.shape[1:])))


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


def colour(values: torch.Tensor) -> torch.Tensor:
    """Values in [0, 1] -> RGB floats [..., 3] on `COLOURS`, piecewise linear."""
    anchors = torch.tensor(COLOURS, dtype=torch.float64)
    position = values.double().clamp(0, 1) * (len(COLOURS) - 1)
    index = position.floor().long().clamp(max=len(COLOURS) - 2)
    share = (position - index).unsqueeze(-1)
    return anchors[index] * (1 - share) + anchors[index + 1] * share


def density_png(panels: DensityPanels, name: str) -> bytes:
    """RGB PNG of a `plot(variable, bins)` report's `density_panels`: data, model density and
    model samples side by side, titled, each bins x bins cells (first coordinate left to right,
    second bottom to top, their ranges on the axes; colour = sqrt of the cell's probability over
    the panel's largest); layout in `density_figure`."""
    tiles = []
    for table in (panels.data, panels.model, panels.samples):
        scaled = (table / table.max().clamp_min(1e-300)).sqrt()
        tiles.append(colour(scaled.t().flip(0)).permute(2, 0, 1))  # [3, rows, columns]
    figure = density_figure(tiles, panels.extent, name)
    return images.png_bytes(figure.image)


def density_figure(tiles: list[torch.Tensor], extent, name: str) -> lettering.Figure:
    """The density plot's three coloured tiles [3, bins, bins] laid out and labelled; a cell is
    240 // bins pixels wide, so panels stay about 240 pixels whatever the number of bins."""
    zoom = max(1, 240 // tiles[0].shape[-1])
    titles = ["data", "model density", "model samples"]
    return lettering.labelled_panels(tiles, titles, extent, (f"{name}[0]", f"{name}[1]"), zoom)
