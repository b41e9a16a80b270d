"""`python -m ebmspec` runs the command-line interface."""

from ebmspec.cli import main

main()
