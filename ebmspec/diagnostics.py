"""Diagnostics: errors as data, and the one renderer that prints them.

In: `Diagnostic(code, message, span, help)` values raised by any stage inside a `UserError`.
Out: text of the form

    path:line:col: error[CODE]: message
       12 |   update x with gwg(temperature = 2)
          |                 ^~~
      = help: use barker, hmc, langevin, mala or metropolis for real variables

User mistakes exit 1 without a traceback; anything else is an internal error (exit 2).
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from ebmspec.source import Source, Span

MAX_REPORTED = 20


@dataclass(frozen=True)
class Diagnostic:
    code: str
    message: str
    span: Span
    help: str


class UserError(Exception):
    """One or more diagnostics about user input (a spec, a flag, a file). Exit status 1."""

    def __init__(self, source: Source, diagnostics: Sequence[Diagnostic]):
        self.source = source
        self.diagnostics = tuple(sorted(diagnostics, key=lambda d: (d.span.start, d.code)))
        super().__init__(render(source, self.diagnostics))


class DiagnosticSink:
    """Collects diagnostics so a stage can report every error at once (the semantic checker)."""

    def __init__(self, source: Source):
        self.source = source
        self.diagnostics: list[Diagnostic] = []

    def error(self, code: str, message: str, span: Span, help: str) -> None:
        self.diagnostics.append(Diagnostic(code, message, span, help))

    def raise_if_any(self) -> None:
        if self.diagnostics:
            raise UserError(self.source, self.diagnostics)


def _render_one(source: Source, diagnostic: Diagnostic) -> str:
    span = diagnostic.span
    head = (
        f"{source.path}:{span.line}:{span.column}: error[{diagnostic.code}]: {diagnostic.message}"
    )
    if not source.text:
        # Nothing to quote (e.g. the file could not be read): message and help only.
        return f"{head}\n      = help: {diagnostic.help}"
    line_text = source.line_text(span.line).expandtabs(1)
    gutter = f"{span.line:>5}"
    pad = " " * len(gutter)
    # The caret covers the span on its first line; a zero-width span still gets one caret.
    width = (span.end_column - span.column) if span.end_line == span.line else 1
    width = max(1, min(width, max(1, len(line_text) - span.column + 1)))
    marker = " " * (span.column - 1) + "^" + "~" * (width - 1)
    return "\n".join(
        [
            head,
            f"{gutter} | {line_text}",
            f"{pad} | {marker}",
            f"{pad} = help: {diagnostic.help}",
        ]
    )


def render(source: Source, diagnostics: Iterable[Diagnostic]) -> str:
    """Render diagnostics in source order, capped at MAX_REPORTED with an '… and N more' line."""
    items = list(diagnostics)
    blocks = [_render_one(source, d) for d in items[:MAX_REPORTED]]
    if len(items) > MAX_REPORTED:
        blocks.append(f"... and {len(items) - MAX_REPORTED} more errors")
    noun = "error" if len(items) == 1 else "errors"
    blocks.append(f"{len(items)} {noun} in {source.path}")
    return "\n".join(blocks) + "\n"


def argument_error(name: str, text: str, code: str, message: str, start: int, end: int, help: str):
    """A located user error in one command-line argument, quoted as its own one-line source."""
    source = Source(name, text)
    return UserError(source, [Diagnostic(code, message, source.span(start, end), help)])
