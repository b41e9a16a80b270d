"""Render the command-line interface as Markdown (`docs/pages/cli.md`).

In: the Typer app of `ebmspec.cli.base` with every command registered (`ebmspec.cli.app`). Out:
one Markdown document: each command's usage line, help text, arguments and options (names,
value, default, help), read from the click-style parameters Typer builds (duck-typed: Typer
carries its own copy of click), so the page says what `--help` says. `tests/cli/test_reference.py`
keeps the committed file in sync (`python -m ebmspec.cli.reference > docs/pages/cli.md`, or
`pytest tests/cli/test_reference.py --update-goldens`, regenerates it).
"""

from __future__ import annotations

from enum import Enum
from typing import Any

import typer

from ebmspec.cli.app import app

_HEADER = [
    "# Command-line reference",
    "",
    "Generated from the Typer app by `python -m ebmspec.cli.reference`; `ebmspec COMMAND -h`",
    "prints the same on a terminal. Exit status: 0 success, 1 a mistake of yours (located",
    "diagnostics on stderr, no traceback), 2 an internal error (a bug, with its traceback).",
    "",
]


def _cell(text: str) -> str:
    """Table-safe text: a `|` would end the cell, a new line the row."""
    return " ".join(text.split()).replace("|", "\\|")


def _value(param: Any) -> str:
    """What the option takes: its metavar, and the bounds Typer checks (`min=`, `max=`)."""
    if getattr(param, "is_flag", False):
        return "flag"
    text = param.metavar or param.name.upper()
    low, high = getattr(param, "min", None), getattr(param, "max", None)
    bounds = [f">= {low}"] if low is not None else []
    bounds += [f"<= {high}"] if high is not None else []
    text += f" ({', '.join(bounds)})" if bounds else ""
    if param.multiple:
        text += ", repeatable"
    return _cell(text)


def _default(param: Any) -> str:
    default = param.default
    if getattr(param, "is_flag", False) and param.secondary_opts:
        return f"`{param.opts[0] if default else param.secondary_opts[0]}`"
    if default is None or (param.multiple and not default) or default is False:
        return "-"
    if default is True:
        return "on"
    if isinstance(default, Enum):
        default = default.value
    return f"`{default}`"


def _names(param: Any) -> str:
    # short names first, the long ones in their declared order (`--output` before its alias `--out`)
    names = sorted(param.opts, key=lambda n: n.startswith("--")) + list(param.secondary_opts)
    return ", ".join(f"`{n}`" for n in names)


def _command(name: str, command: Any, parent: Any) -> list[str]:
    ctx = command.context_class(command, info_name=name, parent=parent)
    usage = command.get_usage(ctx).removeprefix("Usage:").strip()
    lines = [f"## `ebmspec {name}`", "", (command.help or "").strip(), "", "```", usage, "```", ""]
    arguments = [p for p in command.params if p.param_type_name == "argument"]
    options = [p for p in command.params if p.param_type_name == "option"]
    if arguments:
        lines += ["| argument | what it is |", "|---|---|"]
        for p in arguments:
            need = "" if p.required else " (optional)"
            lines.append(f"| `{p.metavar or p.name}`{need} | {_cell(getattr(p, 'help', ''))} |")
        lines.append("")
    lines += ["| option | value | default | what it does |", "|---|---|---|---|"]
    for p in options:
        lines.append(
            f"| {_names(p)} | {_value(p)} | {_default(p)} | {_cell(getattr(p, 'help', ''))} |"
        )
    lines.append("| `-h`, `--help` | flag | - | show the command's help and exit |")
    return lines + [""]


def render_cli_reference() -> str:
    group: Any = typer.main.get_command(app)
    root = group.context_class(group, info_name="ebmspec")
    names = group.list_commands(root)
    lines = list(_HEADER)
    lines += ["| command | what it does |", "|---|---|"]
    for name in names:
        short = group.commands[name].get_short_help_str(limit=200)
        lines.append(f"| [`{name}`](#ebmspec-{name}) | {_cell(short)} |")
    lines += ["", "`ebmspec --version` prints the version; `-h` / `--help` works everywhere.", ""]
    for name in names:
        lines += _command(name, group.commands[name], root)
    return "\n".join(lines).rstrip() + "\n"


if __name__ == "__main__":
    print(render_cli_reference(), end="")
