"""`ebmspec sample [SPEC_OR_RUN] [-c NAME=VALUE ...] [-o FILE] [--trace] [--json]`: the chains."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from ebmspec.cli.base import (
    BestOpt,
    Capture,
    CaptureOpt,
    Command,
    Device,
    DeviceOpt,
    JsonOpt,
    ProfileOpt,
    SetOpt,
    app,
    console,
    device,
)


@app.command(cls=Command)
def sample(
    spec_or_run: Annotated[
        Path | None,
        typer.Argument(
            metavar="SPEC_OR_RUN",
            help="a run folder (default: the latest run) or a .ebm spec (samples its freshly "
            "initialised model)",
        ),
    ] = None,
    condition: Annotated[
        list[str] | None,
        typer.Option(
            "--condition",
            "-c",
            metavar="NAME=VALUE",
            help="clamp a variable, e.g. --condition x_pos=3",
        ),
    ] = None,
    chains: Annotated[
        int,
        typer.Option(
            "-n", "--chains", min=1, metavar="N", help="number of samples (one chain each)"
        ),
    ] = 16,
    steps: Annotated[
        int | None,
        typer.Option("--steps", min=0, metavar="N", help="sweeps (default: the sampler's own)"),
    ] = None,
    seed: Annotated[int, typer.Option("--seed", min=0, metavar="N", help="seed of the chains")] = 0,
    output: Annotated[
        Path | None,
        typer.Option(
            "--output",
            "-o",
            metavar="FILE",
            help="a .png grid of the images, .npz of everything (model space; `data.NAME`: a "
            "transformed variable in data units), or .nc: the draws as ArviZ "
            'InferenceData (implies --trace; needs `pip install "ebmspec[traces]"`)',
        ),
    ] = None,
    sampler: Annotated[
        str | None,
        typer.Option("--sampler", metavar="NAME", help="default: the sampler training uses"),
    ] = None,
    trace: Annotated[
        bool,
        typer.Option(
            "--trace",
            metavar="",
            help="keep every draw after the warm-up as (chain, draw, *shape) arrays in -o's .npz "
            "or .nc, with R-hat, bulk and tail ESS and MCSE of every element",
        ),
    ] = False,
    warmup: Annotated[
        int | None,
        typer.Option(
            "--warmup",
            min=0,
            metavar="N",
            help="sweeps discarded before the draws (default: the first half)",
        ),
    ] = None,
    thin: Annotated[
        int, typer.Option("--thin", min=1, metavar="K", help="keep every K-th draw")
    ] = 1,
    where: DeviceOpt = Device.auto,
    profile: ProfileOpt = None,
    settings: SetOpt = None,
    best: BestOpt = False,
    capture: CaptureOpt = Capture.off,
    json_output: JsonOpt = False,
) -> None:
    """Sample SPEC_OR_RUN with the variables of each --condition clamped; summarise or save."""
    from ebmspec.cli import sample as sample_output
    from ebmspec.cli.options import resolve_capture

    on = device(where)
    mode = resolve_capture(capture.value, on)
    request = (spec_or_run, profile, settings, best, condition or (), sampler, steps, output)
    out = None if json_output else console()
    sample_output.sample_command(out, request, chains, seed, on, mode, (trace, warmup, thin))
