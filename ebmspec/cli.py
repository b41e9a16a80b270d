"""Command-line interface: thin Typer commands over the library, Rich for the summary.

Exit status: 0 success; 1 a user mistake (located diagnostics on stderr, no traceback);
2 an internal error, reported as a bug with its traceback.
"""

from __future__ import annotations

import os
import sys
import tempfile
import traceback
from enum import StrEnum
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console

from ebmspec import __version__
from ebmspec.diagnostics import UserError, render

app = typer.Typer(
    name="ebmspec",
    help="Declarative energy-based models: check, compile, train and sample `.ebm` specs.",
    add_completion=False,
    no_args_is_help=True,
    pretty_exceptions_enable=False,
)


class Stage(StrEnum):
    ast = "ast"
    ir = "ir"
    schedule = "schedule"
    python = "python"


def _console() -> Console:
    return Console(width=None if sys.stdout.isatty() else 140, highlight=False)


SpecArg = Annotated[Path, typer.Argument(help="the .ebm spec file")]
ProfileOpt = Annotated[
    str | None, typer.Option("--profile", "-p", help="apply this profile of the spec first")
]
SetOpt = Annotated[
    list[str] | None,
    typer.Option("--set", "-s", help="override one setting, e.g. --set train.iterations=500"),
]


@app.command()
def check(spec: SpecArg, profile: ProfileOpt = None, settings: SetOpt = None) -> None:
    """Parse and check SPEC; print its variables, energy, samplers, objective and profiles."""
    from ebmspec.api import compile_file
    from ebmspec.summary import print_summary

    program = _configure(compile_file(spec), profile, settings, spec)
    print_summary(_console(), program, str(spec), profile)


@app.command(name="compile")
def compile_command(
    spec: SpecArg,
    output: Annotated[
        Path | None, typer.Option("--output", "-o", help="write here instead of stdout")
    ] = None,
    emit: Annotated[Stage, typer.Option("--emit", help="which stage to print")] = Stage.python,
    profile: ProfileOpt = None,
    settings: SetOpt = None,
) -> None:
    """Emit SPEC as standalone Python (needs only torch), or dump one pipeline stage."""
    from ebmspec import api
    from ebmspec.codegen import emit_python
    from ebmspec.dumps import dump_ast, dump_ir, dump_schedule

    source = api.read_source(spec)
    if emit is Stage.ast:
        from ebmspec.frontend import parse_source

        text = dump_ast(parse_source(source))
    else:
        program = _configure(api.compile_spec(source), profile, settings, spec)
        if emit is Stage.ir:
            text = dump_ir(program)
        elif emit is Stage.schedule:
            text = dump_schedule(program)
        else:
            text = emit_python(program, spec.name)
    if output is None:
        sys.stdout.write(text)
        return
    _write_atomically(output, text)
    Console(stderr=True, highlight=False, markup=False).print(f"wrote {output} ({emit.value})")


def _configure(program, profile: str | None, settings: list[str] | None, spec: Path):
    """Apply `--profile` first, then each `--set key=value` in order (each checked, located)."""
    from ebmspec.passes.profiles import apply_overrides, apply_profile
    from ebmspec.semantic.profiles import check_setting
    from ebmspec.source import Source

    if profile is not None:
        program = _with_profile(program, profile, spec, apply_profile)
    overrides = [check_setting(program, Source("--set", text)) for text in settings or ()]
    return apply_overrides(program, overrides)


def _with_profile(program, profile: str, spec: Path, apply_profile):
    names = [p.name for p in program.profiles]
    if profile not in names:
        raise typer.BadParameter(
            f"{spec} has no profile '{profile}' (profiles: {', '.join(names) or 'none'})",
            param_hint="--profile",
        )
    return apply_profile(program, profile)


def _write_atomically(path: Path, text: str) -> None:
    """Write via a temp file in the same folder and rename, so a crash leaves no half file."""
    path.parent.mkdir(parents=True, exist_ok=True)
    handle, temp = tempfile.mkstemp(prefix=f".{path.name}.", dir=path.parent)
    try:
        with os.fdopen(handle, "w", encoding="utf-8") as stream:
            stream.write(text)
        os.replace(temp, path)
    except BaseException:
        Path(temp).unlink(missing_ok=True)
        raise


def version_callback(value: bool) -> None:
    if value:
        print(f"ebmspec {__version__}")
        raise typer.Exit()


@app.callback()
def _root(
    version: Annotated[
        bool,
        typer.Option(
            "--version", callback=version_callback, is_eager=True, help="print the version"
        ),
    ] = False,
) -> None:
    """ebmspec: energy-based models over mixed continuous and discrete variables."""


def main(argv: list[str] | None = None) -> None:
    """Run the CLI with the exit-status contract: 0 ok, 1 user error, 2 internal error."""
    try:
        status = app(args=argv, standalone_mode=False)
    except UserError as error:
        sys.stderr.write(render(error.source, error.diagnostics))
        sys.exit(1)
    except typer.Exit as done:
        sys.exit(done.exit_code)
    except typer.TyperException as error:
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
