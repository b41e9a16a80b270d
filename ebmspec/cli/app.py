"""Command-line interface: the `ebmspec` console script and its exit-status contract.

The commands (check | compile | train | sample | eval | plot | runs) are declared in
`ebmspec.cli.commands`, one module each, on the Typer app of `ebmspec.cli.base`.

Exit status: 0 success; 1 a user mistake (located diagnostics on stderr, no traceback);
2 an internal error, reported as a bug with its traceback.
"""

from __future__ import annotations

import functools
import sys
import traceback
from typing import Annotated

import typer

from ebmspec import __version__
from ebmspec.cli import commands  # noqa: F401  (registers every command on `app`)
from ebmspec.cli.base import app
from ebmspec.diagnostics import UserError, render


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


@functools.cache
def _command():
    """The click command of the Typer app, built once per process: `app(...)` builds it anew on
    every call (about 70 ms), which a script or test calling `main` many times pays each time."""
    return typer.main.get_command(app)


def main(argv: list[str] | None = None) -> None:
    """Run the CLI with the exit-status contract: 0 ok, 1 user error, 2 internal error."""
    try:
        status = _command().main(args=argv, prog_name="ebmspec", standalone_mode=False)
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
