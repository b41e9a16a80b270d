"""`ebmspec compile SPEC [-o FILE] [--emit ast|ir|schedule|python]`: standalone Python or a dump."""

from __future__ import annotations

import sys
from enum import StrEnum
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console

from ebmspec.cli.base import Command, ProfileOpt, SetOpt, SpecArg, app


class Stage(StrEnum):
    ast = "ast"
    ir = "ir"
    schedule = "schedule"
    python = "python"


@app.command(cls=Command, name="compile")
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
