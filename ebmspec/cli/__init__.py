"""The command-line interface and everything that presents results on a terminal or in files.

`app` holds the Typer commands (check | compile | train | sample | eval), which parse arguments,
call the library and pick exit codes; one module per command's presentation (`train`, `sample`,
`eval`), the `check` summary, the progress bar and the live training display sit beside it.
Nothing outside this package imports it (`tests/test_imports.py`); `main` is the console script.
"""

from ebmspec.cli.app import main

__all__ = ["main"]
