"""`ebmspec plot RUN [RUN ...] [-o FILE] [--x iteration|minutes]`: training curves of runs."""

from __future__ import annotations

from enum import StrEnum
from pathlib import Path
from typing import Annotated

import typer

from ebmspec.cli.base import Command, app, console


class XAxis(StrEnum):
    iteration = "iteration"
    minutes = "minutes"


@app.command(cls=Command, name="plot")
def plot_command(
    folders: Annotated[
        list[Path] | None,
        typer.Argument(
            metavar="RUN...", help="run folders (their metrics.jsonl; default: the latest run)"
        ),
    ] = None,
    output: Annotated[
        Path | None,
        typer.Option(
            "--output",
            "-o",
            metavar="FILE",
            help="a .png or .pdf (default: RUN/curves.png for one run, ./curves.png for several)",
        ),
    ] = None,
    x: Annotated[
        XAxis,
        typer.Option("--x", metavar="iteration|minutes", help="the horizontal axis"),
    ] = XAxis.iteration,
) -> None:
    """Plot training curves: loss, energies, acceptance rates and every evaluation metric, one
    panel each, several runs overlaid."""
    from ebmspec.cli.plot import plot_command as draw

    if not folders:
        from ebmspec.cli.run_folders import latest_located

        folders = [latest_located("RUN")]
    draw(console(), folders, output, x.value)
