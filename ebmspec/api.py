"""Library entry points: spec text or file in, checked and planned `ir.Program` out.

`compile_spec(source)` = parse -> check -> passes.PIPELINE. Raises `UserError` (exit 1 in the CLI)
with located diagnostics on any mistake in the spec.
"""

from __future__ import annotations

from pathlib import Path

from ebmspec import ir
from ebmspec.diagnostics import Diagnostic, UserError
from ebmspec.frontend.parser import parse_source
from ebmspec.passes import PIPELINE
from ebmspec.semantic.checker import check_program
from ebmspec.source import NO_SPAN, Source


def read_source(path: str | Path) -> Source:
    """Read a spec file; a missing or unreadable file is a located user error."""
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as error:
        reason = error.strerror if isinstance(error, OSError) and error.strerror else str(error)
        raise UserError(
            Source(str(path), ""),
            [
                Diagnostic(
                    "E000",
                    f"cannot read spec file: {reason}",
                    NO_SPAN,
                    "check the path; specs are UTF-8 text files ending in .ebm",
                )
            ],
        ) from None
    return Source(str(path), text)


def compile_spec(source: Source) -> ir.Program:
    program = check_program(source, parse_source(source))
    for run_pass in PIPELINE:
        program = run_pass(program)
    return program


def compile_file(path: str | Path) -> ir.Program:
    return compile_spec(read_source(path))
