"""Command-line interface: thin Typer commands over the library, Rich for the summaries.

`check` and `compile` turn a spec into a summary, a stage dump or standalone Python; `sample` runs
the spec's sampler with `--condition`s clamped and prints a summary or writes a PNG grid / .npz.

Exit status: 0 success; 1 a user mistake (located diagnostics on stderr, no traceback);
2 an internal error, reported as a bug with its traceback.
"""

from __future__ import annotations

import sys
import traceback
from enum import StrEnum
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console

from ebmspec import __version__
from ebmspec.diagnostics import UserError, render


class _PlainHelp:
    """Help without Typer's type labels where they say nothing: `--help` has no `<bool>`."""

    def get_help_option(self, ctx):
        option = super().get_help_option(ctx)
        if option is not None:
            option.metavar = ""
        return option


class _Command(_PlainHelp, typer.core.TyperCommand):
    def collect_usage_pieces(self, ctx) -> list[str]:
        """`ebmspec train [OPTIONS] SPEC`: arguments by their metavar (Typer writes `{SPEC}`)."""
        pieces = [self.options_metavar] if self.options_metavar else []
        for param in self.get_params(ctx):
            if param.param_type_name == "argument":
                pieces.append(param.metavar if param.required else f"[{param.metavar}]")
            else:
                pieces.extend(param.get_usage_pieces(ctx))
        return pieces


class _Group(_PlainHelp, typer.core.TyperGroup):
    pass


app = typer.Typer(
    cls=_Group,
    name="ebmspec",
    help="Declarative energy-based models: check, compile, train and sample `.ebm` specs.",
    add_completion=False,
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    context_settings={"help_option_names": ["-h", "--help"]},
)


class Stage(StrEnum):
    ast = "ast"
    ir = "ir"
    schedule = "schedule"
    python = "python"


def _console() -> Console:
    return Console(width=None if sys.stdout.isatty() else 140, highlight=False)


SpecArg = Annotated[Path, typer.Argument(metavar="SPEC", help="the .ebm spec file")]
ProfileOpt = Annotated[
    str | None,
    typer.Option("--profile", "-p", metavar="NAME", help="apply this profile of the spec first"),
]
SetOpt = Annotated[
    list[str] | None,
    typer.Option(
        "--set",
        "-s",
        metavar="KEY=VALUE",
        help="override one setting, e.g. --set train.iterations=500",
    ),
]
BestOpt = Annotated[
    bool,
    typer.Option(
        "--best",
        metavar="",
        help="use the run's best evaluated weights (best.safetensors), not the last",
    ),
]


@app.command(cls=_Command)
def check(spec: SpecArg, profile: ProfileOpt = None, settings: SetOpt = None) -> None:
    """Parse and check SPEC; print its variables, energy, samplers, objective and profiles."""
    from ebmspec.api import compile_file
    from ebmspec.cli.summary import print_summary

    program = compile_file(spec, profile, settings or ())
    print_summary(_console(), program, str(spec), profile)


@app.command(cls=_Command, name="compile")
def compile_command(
    spec: SpecArg,
    output: Annotated[
        Path | None,
        typer.Option("--output", "-o", metavar="FILE", help="write here instead of stdout"),
    ] = None,
    emit: Annotated[
        Stage, typer.Option("--emit", metavar="ast|ir|schedule|python", help="which stage to print")
    ] = Stage.python,
    profile: ProfileOpt = None,
    settings: SetOpt = None,
) -> None:
    """Emit SPEC as standalone Python (needs only torch), or dump one pipeline stage."""
    from ebmspec import api
    from ebmspec.codegen import emit_python
    from ebmspec.dumps import dump_ast, dump_ir, dump_schedule
    from ebmspec.runtime.io import checkpoint

    source = api.read_source(spec)
    if emit is Stage.ast:
        from ebmspec.frontend import parse_source

        text = dump_ast(parse_source(source))
    else:
        program = api.compile_spec(source, profile, settings or ())
        if emit is Stage.ir:
            text = dump_ir(program)
        elif emit is Stage.schedule:
            text = dump_schedule(program)
        else:
            text = emit_python(program, spec.name)
    if output is None:
        sys.stdout.write(text)
        return
    checkpoint.write_atomically(output, text)
    Console(stderr=True, highlight=False, markup=False).print(f"wrote {output} ({emit.value})")


class Device(StrEnum):
    auto = "auto"
    cpu = "cpu"
    cuda = "cuda"


class Capture(StrEnum):
    off = "off"
    compile = "compile"
    graphs = "graphs"


CaptureOpt = Annotated[
    Capture,
    typer.Option(
        "--capture",
        metavar="off|compile|graphs",
        help="run each MCMC sweep as one compiled graph (graphs: CUDA-graph replay, CUDA only)",
    ),
]


@app.command(cls=_Command)
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
            help="a .png grid of the images, or .npz of everything",
        ),
    ] = None,
    sampler: Annotated[
        str | None,
        typer.Option("--sampler", metavar="NAME", help="default: the sampler training uses"),
    ] = None,
    device: Annotated[
        Device, typer.Option("--device", metavar="auto|cpu|cuda", help="auto: cuda if available")
    ] = (Device.auto),
    profile: ProfileOpt = None,
    settings: SetOpt = None,
    best: BestOpt = False,
    capture: CaptureOpt = Capture.off,
) -> None:
    """Sample SPEC_OR_RUN with the variables of each --condition clamped; summarise or save."""
    from ebmspec.cli import sample as sample_output
    from ebmspec.cli.options import resolve_capture

    where = _device(device)
    mode = resolve_capture(capture.value, where)
    request = (spec_or_run, profile, settings, best, condition or (), sampler, steps, output)
    sample_output.sample_command(_console(), request, chains, seed, where, mode)


@app.command(cls=_Command)
def train(
    spec: SpecArg,
    profile: ProfileOpt = None,
    settings: SetOpt = None,
    out: Annotated[
        Path | None,
        typer.Option(
            "--out", "-o", metavar="DIR", help="run folder (default: runs/MODEL-DATE-TIME)"
        ),
    ] = None,
    device: Annotated[
        Device, typer.Option("--device", metavar="auto|cpu|cuda", help="auto: cuda if available")
    ] = (Device.auto),
    resume: Annotated[
        bool,
        typer.Option(
            "--resume", metavar="", help="continue the run in --out (default: the latest run)"
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
    capture: CaptureOpt = Capture.off,
) -> None:
    """Train SPEC: live progress, periodic evaluation, atomic checkpoints, metrics.jsonl."""
    from ebmspec.cli import train as train_command
    from ebmspec.cli.options import resolve_capture
    from ebmspec.runtime.training import distributed

    where = _device(device)
    options = {"profile": profile, "settings": settings or [], "out": out, "resume": resume}
    options["capture"] = resolve_capture(capture.value, where)
    if nproc > 1 and not distributed.launched():
        train_command.precheck(spec, options, nproc)
        raise typer.Exit(train_command.launch(nproc))
    status = train_command.train_command(_console(), spec, options, where)
    if status:
        raise typer.Exit(status)


@app.command(cls=_Command, name="eval")
def eval_command(
    run: Annotated[
        Path | None, typer.Argument(metavar="RUN", help="a run folder (default: the latest run)")
    ] = None,
    json_output: Annotated[
        bool, typer.Option("--json", metavar="", help="print one JSON object")
    ] = False,
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
    images: Annotated[
        bool,
        typer.Option(
            "--images/--no-images", metavar="", help="write the sample grid / density PNGs"
        ),
    ] = True,
    device: Annotated[
        Device, typer.Option("--device", metavar="auto|cpu|cuda", help="auto: cuda if available")
    ] = (Device.auto),
    best: BestOpt = False,
) -> None:
    """Evaluate a trained run: accuracy (energy- and sample-based), ECE, sample grids."""
    from ebmspec.cli import run_folders
    from ebmspec.cli.eval import evaluate_run
    from ebmspec.runtime import allocator
    from ebmspec.runtime.io import checkpoint, strict_json

    allocator.tune_allocator()
    where = _device(device)
    loaded = run_folders.load_located(run, "RUN", where, best=best)
    result = evaluate_run(loaded, where, limit, seed, images, quiet=json_output)
    name = "eval-best.json" if best else "eval.json"
    checkpoint.write_atomically(loaded.path / name, strict_json.dumps(result, indent=2) + "\n")
    if json_output:
        print(strict_json.dumps(result))
        return
    from ebmspec.cli.eval import print_evaluation

    print_evaluation(_console(), loaded, result)


def _device(choice: Device) -> str:
    from ebmspec.cli.options import resolve_device

    return resolve_device(choice.value)


def version_callback(value: bool) -> None:
    if value:
        print(f"ebmspec {__version__}")
        raise typer.Exit()


@app.callback()
def _root(
    version: Annotated[
        bool,
        typer.Option(
            "--version",
            callback=version_callback,
            is_eager=True,
            metavar="",
            help="print the version",
        ),
    ] = False,
) -> None:
    """ebmspec: energy-based models over mixed continuous and discrete variables."""


def main(argv: list[str] | None = None) -> None:
    """Run the CLI with the exit-status contract: 0 ok, 1 user error, 2 internal error."""
    try:
        status = app(args=argv, prog_name="ebmspec", standalone_mode=False)
    except UserError as error:
        sys.stderr.write(render(error.source, error.diagnostics))
        sys.exit(1)
    except typer.Exit as done:
        sys.exit(done.exit_code)
    except typer.TyperException as error:
        if type(error).__name__ == "NoArgsIsHelpError":
            # `ebmspec` alone: the help (already printed) is the whole answer, not an error.
            message = error.format_message()
            sys.stdout.write(message + "\n" if message else "")
            sys.exit(0)
        # Usage mistakes (unknown option, missing argument, bad --profile) are user errors too.
        sys.stderr.write(f"error: {error.format_message()}\n")
        sys.stderr.write("  = help: run `ebmspec --help` or `ebmspec COMMAND --help`\n")
        sys.exit(1)
    except typer.Abort:
        sys.stderr.write("aborted\n")
        sys.exit(1)
    except KeyboardInterrupt:
        sys.stderr.write("interrupted\n")
        sys.exit(130)
    except Exception:
        traceback.print_exc()
        sys.stderr.write(
            f"error: internal error in ebmspec {__version__} (this is a bug, not a mistake in "
            "your spec); please report it with the traceback above\n"
        )
        sys.exit(2)
    sys.exit(status if isinstance(status, int) else 0)


if __name__ == "__main__":
    main()
