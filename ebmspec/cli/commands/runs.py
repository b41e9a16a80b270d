"""`ebmspec runs [DIR] [--json]`: list the training runs under DIR (default: runs)."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from ebmspec.cli.base import Command, JsonOpt, app, console


@app.command(cls=Command)
def runs(
    folder: Annotated[
        Path, typer.Argument(metavar="DIR", help="the folder that holds the run folders")
    ] = Path("runs"),
    json_output: JsonOpt = False,
) -> None:
    """List the runs under DIR: spec, profile, iteration, last and best evaluation."""
    from ebmspec.cli.runs import runs_command

    runs_command(console(), folder, json_output)
