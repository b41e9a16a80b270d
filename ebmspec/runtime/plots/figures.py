"""The matplotlib canvas every figure is drawn on, and its bytes.

In: a figure size in inches (`new_figure`), a finished `Figure` and a format (`render`). Out: a
`Figure` on an Agg canvas (no pyplot: nothing global to leak between commands or tests) and the
PNG or PDF bytes of it. PNGs carry matplotlib's `Software` text chunk; PDFs carry no creation date,
so the same figure gives the same bytes.
"""

from __future__ import annotations

import io
from pathlib import Path

from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure

DPI = 120  # pixels per inch of the PNGs: a 6-inch panel is 720 pixels, 9-point text is legible
FORMATS = ("png", "pdf")


def new_figure(width: float, height: float) -> Figure:
    """A blank figure of width x height inches on an Agg canvas, laid out by matplotlib's
    constrained layout (titles, labels and colour bars never overlap)."""
    figure = Figure(figsize=(width, height), dpi=DPI, layout="constrained")
    FigureCanvasAgg(figure)
    return figure


def render(figure: Figure, format: str = "png") -> bytes:
    """The bytes of `figure` as a PNG or a PDF; the figure is cleared afterwards (its memory is
    freed at once, not when the garbage collector finds it)."""
    if format not in FORMATS:
        raise ValueError(f"figures are written as {' or '.join(FORMATS)}, not {format!r}")
    buffer = io.BytesIO()
    metadata = {"CreationDate": None} if format == "pdf" else None
    try:
        figure.savefig(buffer, format=format, dpi=DPI, metadata=metadata)
    finally:
        figure.clear()
    return buffer.getvalue()


def format_of(path) -> str:
    """`png` or `pdf` from a file name's suffix (anything else: ValueError)."""
    suffix = Path(path).suffix.lower().lstrip(".")
    if suffix not in FORMATS:
        raise ValueError(f"cannot write {Path(path).suffix or 'suffix-less'} figures")
    return suffix
