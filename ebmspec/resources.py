"""Locate the top-level `grammars/` and `templates/` folders.

In a source checkout or editable install they sit beside the package; a built wheel carries them
inside the package as `ebmspec/_data/{grammars,templates}` (see pyproject.toml's force-include).
"""

from __future__ import annotations

from pathlib import Path

_PACKAGE = Path(__file__).resolve().parent


def resource_dir(name: str) -> Path:
    """The folder `name` ('grammars' or 'templates'), from the wheel layout or the checkout."""
    for candidate in (_PACKAGE / "_data" / name, _PACKAGE.parent / name):
        if candidate.is_dir():
            return candidate
    raise FileNotFoundError(
        f"ebmspec is installed without its '{name}' folder (looked beside {_PACKAGE})"
    )
