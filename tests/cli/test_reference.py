"""docs/pages/cli.md is generated from the Typer app and must stay in sync with it.

`pytest tests/cli/test_reference.py --update-goldens` (or `python -m ebmspec.cli.reference >
docs/pages/cli.md`) regenerates it.
"""

from __future__ import annotations

import typer

from ebmspec.cli.base import app
from ebmspec.cli.reference import render_cli_reference
from tests.conftest import ROOT


def test_cli_reference_is_up_to_date(golden):
    golden(ROOT / "docs" / "pages" / "cli.md", render_cli_reference())


def test_cli_reference_lists_every_command_and_option(cli):
    """Read from the app, not from the renderer: every command has its section, and every
    option name the command accepts (and `--help` prints) appears in that section."""
    page = render_cli_reference()
    group = typer.main.get_command(app)
    assert set(group.commands) >= {"check", "compile", "train", "sample", "eval"}
    for name, command in group.commands.items():
        section = page.split(f"## `ebmspec {name}`", 1)[1].split("\n## ", 1)[0]
        status, help_text, _ = cli(name, "--help")
        assert status == 0
        for param in command.params:
            if param.param_type_name == "option":
                for option in [*param.opts, *param.secondary_opts]:
                    assert f"`{option}`" in section, (name, option)
                    assert option in help_text, (name, option)
