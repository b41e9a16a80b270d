"""Every figure is matplotlib's and shows what it claims: PNGs carry matplotlib's `Software` text
chunk and a legible size, PDFs are PDFs; the sample mosaic puts each tile where its index says;
grids label rows and columns with the condition values; the density figure draws the three tables
on one colour scale with a colour bar; the reliability title holds the ECE that
`metrics.calibration_errors` computes, its bars the table; the OOD titles the AUROC counted pair
by pair; the curves read metrics.jsonl (nulls as gaps, rollbacks left out) into one panel per
quantity with every run in the legend.
"""

from __future__ import annotations

import io
import json
import math

import numpy as np
import pytest
import torch
from PIL import Image

from ebmspec.runtime.evaluation import metrics as scoring
from ebmspec.runtime.plots import charts, curves, figures, grids, pictures, pixels
from tests.runtime.evaluation.test_evaluate import _mixture, _pictures


def png_image(data: bytes) -> Image.Image:
    image = Image.open(io.BytesIO(data))
    assert image.format == "PNG"
    assert image.info["Software"].startswith("Matplotlib version"), image.info
    return image


def test_render_writes_matplotlib_png_and_reproducible_pdf():
    def figure():
        drawn = figures.new_figure(4, 3)
        drawn.add_subplot().plot([0, 1], [1, 0])
        return drawn

    image = png_image(figures.render(figure()))
    assert image.size == (4 * figures.DPI, 3 * figures.DPI)
    pdf = figures.render(figure(), "pdf")
    assert pdf.startswith(b"%PDF") and figures.render(figure(), "pdf") == pdf
    with pytest.raises(ValueError):
        figures.render(figure(), "jpg")
    assert figures.format_of("a/b.PDF") == "pdf" and figures.format_of("c.png") == "png"
    with pytest.raises(ValueError):
        figures.format_of("x.svg")


def test_mosaic_puts_every_tile_at_its_place_with_grey_gaps():
    count, height, width = 7, 3, 5
    shown = torch.rand(count, 1, height, width, generator=torch.Generator().manual_seed(0))
    tiles = pixels.square(shown)
    assert tiles.shape == (3, 3, 1, height, width)  # ceil(sqrt(7)) = 3 columns, 3 rows
    image = pixels.mosaic(tiles)
    pad = pixels.PAD
    assert image.shape == (3 * height + 4 * pad, 3 * width + 4 * pad)
    for index in range(9):
        r, k = divmod(index, 3)
        top, left = pad + r * (height + pad), pad + k * (width + pad)
        cell = image[top : top + height, left : left + width]
        expected = shown[index, 0].numpy() if index < count else np.full((height, width), 0.5)
        np.testing.assert_allclose(cell, expected, atol=1e-6)
    gaps = np.ones(image.shape, dtype=bool)
    for r in range(3):
        for k in range(3):
            top, left = pad + r * (height + pad), pad + k * (width + pad)
            gaps[top : top + height, left : left + width] = False
    assert (image[gaps] == pixels.PAD_VALUE).all()
    rgb = pixels.mosaic(torch.rand(1, 2, 3, 4, 4))
    assert rgb.shape == (4 + 2 * pad, 2 * 4 + 3 * pad, 3)


def test_grid_figure_enlarges_without_smoothing_and_labels_rows_and_columns():
    tiles = torch.rand(3, 2, 1, 4, 6, generator=torch.Generator().manual_seed(1))
    figure = grids.grid_figure(tiles, "title", ("r", ["0", "1", "2"]), ("s", ["0", "1"]))
    (axes,) = figure.axes
    (shown,) = axes.get_images()
    assert shown.get_interpolation() == "nearest"
    np.testing.assert_allclose(shown.get_array(), pixels.mosaic(tiles))
    assert [t.get_text() for t in axes.get_yticklabels()] == ["0", "1", "2"]
    assert [t.get_text() for t in axes.get_xticklabels()] == ["0", "1"]
    assert (axes.get_ylabel(), axes.get_xlabel(), axes.get_title()) == ("r", "s", "title")
    # the row ticks sit on the tile centres
    centres = [pixels.PAD + 1.5 + r * (4 + pixels.PAD) for r in range(3)]
    assert list(axes.get_yticks()) == pytest.approx(centres)
    image = png_image(figures.render(figure))
    mosaic_width = 2 * 6 + 3 * pixels.PAD
    assert image.size[0] >= grids.zoom(*pixels.mosaic(tiles).shape) * mosaic_width
    assert grids.zoom(15, 15) == grids.MAX_ZOOM and grids.zoom(2000, 10) == 1


def test_conditional_grid_png_is_labelled_with_the_condition_values():
    program, model = _pictures()
    call = program.evaluate.reports[0].call.with_arg("steps", 2)
    grid = pictures.conditional_tiles(program, model, call, seed=1)
    figure = pictures.grid_figure(grid, "x")
    (axes,) = figure.axes
    assert [t.get_text() for t in axes.get_yticklabels()] == ["0", "1", "2"]
    assert axes.get_ylabel() == "r" and axes.get_xlabel() == "s"
    assert axes.get_title() == "samples of x given r and s"
    image = png_image(pictures.conditional_grid(program, model, call, seed=1))
    assert min(image.size) >= 300  # 4 x 6 pixel tiles enlarged 16 times


def test_density_figure_draws_the_three_tables_on_one_scale_with_a_colour_bar():
    program, model = _mixture()
    call = program.evaluate.reports[0].call
    generator = torch.Generator().manual_seed(0)
    data = torch.randn(500, 2, generator=generator)
    samples = torch.randn(200, 2, generator=generator)
    panels = pictures.density_panels(program, model, call, data, samples=samples)
    figure = pictures.density_figure(panels, "x")
    images = [ax.get_images()[0] for ax in figure.axes if ax.get_images()]
    assert [im.axes.get_title() for im in images] == [
        "data (test split)",
        "model density",
        "model samples",
    ]
    top = max(float(t.max()) for t in (panels.data, panels.model, panels.samples))
    for im, table in zip(images, (panels.data, panels.model, panels.samples), strict=True):
        np.testing.assert_allclose(im.get_array(), table.t().numpy())  # rows: 2nd coordinate
        assert im.origin == "lower" and im.norm.vmax == pytest.approx(top)
        assert im.get_extent() == pytest.approx([*panels.extent[0], *panels.extent[1]])
        assert im.axes.get_xlabel() == "x[0]"
    assert images[0].axes.get_ylabel() == "x[1]"
    bars = [ax for ax in figure.axes if "probability per cell" in ax.get_ylabel()]
    assert len(bars) == 1  # the colour bar, labelled with its scale
    image = png_image(pictures.density_png(panels, "x"))
    assert image.size[0] >= 1200 and image.size[1] >= 400


def test_reliability_figure_shows_ebmspecs_ece_the_bars_and_the_counts():
    generator = torch.Generator().manual_seed(3)
    confidence = torch.rand(400, generator=generator) * 0.5 + 0.5
    correct = torch.rand(400, generator=generator) < confidence**2
    result = scoring.calibration_errors(confidence, correct, 10)
    table = result["reliability"]
    assert charts.table_ece(table) == pytest.approx(result["ece"], abs=1e-12)
    figure = charts.reliability_figure({"y from x, by energy": table})
    top, bottom = figure.axes
    assert top.get_title() == f"y from x, by energy\nECE {result['ece']:.4f}"
    legend = [t.get_text() for t in top.get_legend().get_texts()]
    assert set(legend) == {"accuracy (model)", "gap to mean confidence", "perfect calibration"}
    filled = [row for row in table if row[0]]
    accuracy_bars = top.containers[0]
    assert [bar.get_height() for bar in accuracy_bars] == pytest.approx([r[1] for r in filled])
    assert [bar.get_height() for bar in bottom.containers[0]] == [r[0] for r in table]
    assert bottom.get_ylabel() == "examples" and bottom.get_xlabel() == "confidence"
    given = charts.reliability_figure({"a": table}, {"a": 0.125})
    assert given.axes[0].get_title() == "a\nECE 0.1250"
    image = png_image(charts.reliability_png({"a": table, "b": table}))
    assert image.size[0] >= 2 * 400 and image.size[1] >= 500


def test_ood_histograms_name_both_sets_and_give_the_auroc_per_panel():
    generator = torch.Generator().manual_seed(0)
    inside = torch.randn(300, generator=generator)
    sets = {"noise": torch.randn(200, generator=generator) + 1.5, "same": inside[:250] * 1.0}
    figure = charts.histogram_figure(inside, sets, "log p(x)")
    shown = [ax for ax in figure.axes if ax.get_visible()]
    assert len(shown) == 2
    for ax, (name, outside) in zip(shown, sets.items(), strict=True):
        positive = inside[: len(outside)]
        # AUROC counted pair by pair: P(test score > OOD score) + 1/2 P(tie)
        wins = (positive[:, None] > outside[None, :]).double().mean()
        ties = (positive[:, None] == outside[None, :]).double().mean()
        assert ax.get_title() == f"test vs {name}: AUROC {float(wins + ties / 2):.3f}"
        legend = [t.get_text() for t in ax.get_legend().get_texts()]
        assert legend == ["test (in-distribution)", f"{name} (OOD)"]
        assert ax.get_xlabel() == "log p(x)" and ax.get_ylabel() == "density"
    assert shown[1].get_title() == "test vs same: AUROC 0.500"
    png_image(charts.histogram_png(inside, sets, "log p(x)"))


def _log(folder, entries: list) -> None:
    folder.mkdir()
    lines = [json.dumps(e) for e in entries]
    (folder / "metrics.jsonl").write_text("\n".join(lines) + "\n", encoding="utf-8")


def test_curves_read_every_quantity_and_overlay_the_runs(tmp_path):
    _log(
        tmp_path / "a",
        [
            {"iteration": 1, "train_seconds": 6.0, "loss": 2.0, "f_data": 0.5, "accept": {"k": 1}},
            {"iteration": 2, "train_seconds": 12.0, "loss": None, "f_data": 0.25, "accept": {}},
            {"iteration": 2, "rollback": 1, "loss": 99.0},
            {"iteration": 2, "eval": {"iteration": 2, "train_seconds": 12.0, "ece": 0.1,
                                      "oce": None, "examples": 50, "seconds": {"energy": 1.0}}},
        ],
    )  # fmt: skip
    _log(tmp_path / "b", [{"iteration": 3, "train_seconds": 60.0, "loss": 1.0, "lr": 0.01}])
    (tmp_path / "b" / "metrics.jsonl").open("a").write('{"iteration": 4, "lo')  # cut by a kill
    a = curves.read_run(tmp_path / "a", "run a")
    b = curves.read_run(tmp_path / "b", "run b")
    assert a.training["loss"][0] == (1.0, 0.1, 2.0) and math.isnan(a.training["loss"][1][2])
    assert a.training["accept k"] == [(1.0, 0.1, 1.0)] and len(a.training["loss"]) == 2
    assert a.evaluation["ece"] == [(2.0, 0.2, 0.1)] and set(a.evaluation) == {"ece", "oce"}
    assert b.training == {"loss": [(3.0, 1.0, 1.0)], "lr": [(3.0, 1.0, 0.01)]}
    panels = curves.quantities([a, b])
    expected = ["loss", "f_data", "lr", "accept k"]
    assert panels == [("train", k) for k in expected] + [("eval", "ece"), ("eval", "oce")]
    figure = curves.curves_figure([a, b], x="minutes")
    shown = [ax for ax in figure.axes if ax.get_visible()]
    titles = [ax.get_title() for ax in shown]
    assert titles[0] == "loss" and "acceptance rate, k" in titles
    assert "ECE, top label (evaluation)" in titles
    loss = shown[0].get_lines()
    assert [list(line.get_xdata()) for line in loss[:2]] == [[0.1, 0.2], [1.0]]
    assert "no finite value logged" in [t.get_text() for t in shown[-1].texts]  # oce: all null
    (legend,) = figure.legends
    assert [t.get_text() for t in legend.get_texts()] == ["run a", "run b"]
    assert shown[0].get_xlabel() == "minutes of training"
    image = png_image(curves.curves_png([a, b]))  # the PDF: tests/cli/test_plot.py
    assert image.size[0] >= 1200
