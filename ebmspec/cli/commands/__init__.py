"""The Typer declarations of the commands, one module each: arguments, options and help text.

Each module registers its command on `ebmspec.cli.base.app` when imported and hands the parsed
arguments to the module that does the work (`cli.sample`, `cli.train`, `cli.eval`, ...). Importing
this package registers every command, in the order `ebmspec --help` lists them.
"""

from ebmspec.cli.commands import check, compile, train, sample, eval  # noqa: F401  # isort: skip
from ebmspec.cli.commands import plot  # noqa: F401  # isort: skip
from ebmspec.cli.commands import runs  # noqa: F401  # isort: skip
