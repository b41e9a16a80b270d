"""`ebmspec eval [RUN] [--json] [-o FILE] [--seed N] [--set KEY=VALUE]`: evaluate a trained run."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from ebmspec.cli.base import BestOpt, Command, Device, DeviceOpt, JsonOpt, app, console
from ebmspec.cli.base import device as resolve


@app.command(cls=Command, name="eval")
def eval_command(
    run: Annotated[
        Path | None, typer.Argument(metavar="RUN", help="a run folder (default: the latest run)")
    ] = None,
    json_output: JsonOpt = False,
    output: Annotated[
        Path | None,
        typer.Option(
            "--output",
            "-o",
            metavar="FILE",
            help="also write the result here (JSON; default: RUN/eval.json only)",
        ),
    ] = None,
    limit: Annotated[
        int | None,
        typer.Option("--limit", min=1, metavar="N", help="evaluate the first N test examples"),
    ] = None,
    seed: Annotated[
        int | None,
        typer.Option(
            "--seed",
            min=0,
            metavar="N",
            help="seed of the sampling chains (default: the training seed); the test split "
            "stays the training run's",
        ),
    ] = None,
    settings: Annotated[
        list[str] | None,
        typer.Option(
            "--set",
            "-s",
            metavar="KEY=VALUE",
            help="change a sampler or evaluation setting, e.g. --set sampler.joint.sweeps=50",
        ),
    ] = None,
    images: Annotated[
        bool,
        typer.Option("--images/--no-images", metavar="", help="write the sample grid / figures"),
    ] = True,
    ais: Annotated[
        str | None,
        typer.Option(
            "--ais",
            metavar="KEY=VALUE,...",
            help="also estimate log Z and the test log-likelihood by annealed importance "
            "sampling: '' for the spec's (or the default) settings, or e.g. "
            "'temperatures=500,runs=5,chains=50,reverse=false,sampler=gibbs'",
        ),
    ] = None,
    where: DeviceOpt = Device.auto,
    best: BestOpt = False,
) -> None:
    """Evaluate a trained run: accuracy (energy- and sample-based), ECE, likelihood, figures."""
    from ebmspec.cli import run_folders
    from ebmspec.cli.eval import evaluate_run
    from ebmspec.runtime import allocator
    from ebmspec.runtime.io import checkpoint, strict_json

    allocator.tune_allocator()
    on = resolve(where)
    loaded = run_folders.load_located(run, "RUN", on, best=best)
    if settings:
        keys = ("sampler.", "evaluate.")
        program = run_folders.run_settings(loaded.program, None, settings, keys)
        loaded = loaded.with_program(program)
    result = evaluate_run(loaded, on, limit, seed, images, quiet=json_output, ais=ais)
    name = "eval-best.json" if best else "eval.json"
    text = strict_json.dumps(result, indent=2) + "\n"
    checkpoint.write_atomically(loaded.path / name, text)
    if output is not None:
        run_folders.write_output(output, text)
    if json_output:
        print(strict_json.dumps(result))
        return
    from ebmspec.cli.eval import print_evaluation

    print_evaluation(console(), loaded, result)
