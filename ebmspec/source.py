"""Source text and spans.

In: the text of a spec and its path. Out: `Source`, which maps offsets to 1-based line:col and
returns source lines for the diagnostic renderer, and `Span`, the location every AST/IR node
carries.
"""

from __future__ import annotations

import bisect
from dataclasses import dataclass, field


@dataclass(frozen=True, order=True)
class Span:
    """A half-open character range [start, end) with its 1-based line/column at both ends."""

    start: int
    end: int
    line: int
    column: int
    end_line: int
    end_column: int

    def __str__(self) -> str:
        return f"{self.line}:{self.column}"

    def to(self, other: Span) -> Span:
        """The smallest span covering `self` and `other`."""
        first = min(self, other, key=lambda s: s.start)
        last = max(self, other, key=lambda s: s.end)
        return Span(first.start, last.end, first.line, first.column, last.end_line, last.end_column)


NO_SPAN = Span(0, 0, 1, 1, 1, 1)


@dataclass(frozen=True)
class Source:
    """The text of one spec file; `path` is what diagnostics print."""

    path: str
    text: str
    _line_starts: tuple[int, ...] = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        starts = [0]
        starts.extend(i + 1 for i, ch in enumerate(self.text) if ch == "\n")
        object.__setattr__(self, "_line_starts", tuple(starts))

    def position(self, offset: int) -> tuple[int, int]:
        """1-based (line, column) of a character offset."""
        offset = max(0, min(offset, len(self.text)))
        index = bisect.bisect_right(self._line_starts, offset) - 1
        return index + 1, offset - self._line_starts[index] + 1

    def span(self, start: int, end: int) -> Span:
        line, column = self.position(start)
        end_line, end_column = self.position(end)
        return Span(start, end, line, column, end_line, end_column)

    def line_text(self, line: int) -> str:
        """The text of a 1-based line, without its newline ('' past the end of the file)."""
        if line < 1 or line > len(self._line_starts):
            return ""
        start = self._line_starts[line - 1]
        end = self.text.find("\n", start)
        return self.text[start:] if end < 0 else self.text[start:end]

    @property
    def end_span(self) -> Span:
        """A zero-width span at the end of the text (where 'unexpected end of file' points)."""
        stripped = len(self.text.rstrip())
        return self.span(stripped, stripped)
