"""`ebmspec train SPEC [-o DIR] [--seed N] [--resume] [--nproc N]`: train into a run folder."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from ebmspec.cli.base import (
    CaptureOpt,
    Command,
    Device,
    DeviceOpt,
    MemoryOpt,
    ProfileOpt,
    SetOpt,
    SpecArg,
    app,
    console,
    device,
    memory_limit,
)


@app.command(cls=Command)
def train(
    spec: SpecArg,
    profile: ProfileOpt = None,
    settings: SetOpt = None,
    out: Annotated[
        Path | None,
        typer.Option(
            "--output",
            "-o",
            "--out",
            metavar="DIR",
            help="run folder (default: runs/MODEL-DATE-TIME)",
        ),
    ] = None,
    seed: Annotated[
        int | None,
        typer.Option(
            "--seed",
            min=0,
            metavar="N",
            help="seed of the data split, parameters and chains (same as --set train.seed=N)",
        ),
    ] = None,
    where: DeviceOpt = Device.auto,
    resume: Annotated[
        bool,
        typer.Option(
            "--resume", metavar="", help="continue the run in --output (default: the latest run)"
        ),
    ] = False,
    nproc: Annotated[
        int,
        typer.Option(
            "--nproc",
            metavar="N",
            min=1,
            help="data-parallel on N processes of this machine (runs torchrun; pcd, cd, jem)",
        ),
    ] = 1,
    capture: CaptureOpt = None,
    max_memory: MemoryOpt = None,
) -> None:
    """Train SPEC: live progress, periodic evaluation, atomic checkpoints, metrics and logs."""
    from ebmspec.cli import train as train_command
    from ebmspec.cli.options import resolve_capture
    from ebmspec.runtime.training import distributed

    on = device(where)
    settings = list(settings or [])
    if seed is not None:
        # a setting like any other: recorded in run.json (a resumed run keeps its own)
        settings.append(f"train.seed={seed}")
    options = {"profile": profile, "settings": settings, "out": out, "resume": resume}
    # Without the flag the spec's `train.capture` decides (off unless it says compile).
    options["capture"] = "spec" if capture is None else resolve_capture(capture.value, on)
    options["max_memory"] = memory_limit(max_memory)
    if nproc > 1 and not distributed.launched():
        train_command.precheck(spec, options, nproc)
        raise typer.Exit(train_command.launch(nproc))
    status = train_command.train_command(console(), spec, options, on)
    if status:
        raise typer.Exit(status)
