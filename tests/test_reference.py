"""docs/pages/reference.md is generated from the registry and must stay in sync with it.

Its sibling for the command line, docs/pages/cli.md, is checked by tests/cli/test_reference.py
(only the CLI's own tests import the CLI). `pytest tests/test_reference.py
tests/cli/test_reference.py --update-goldens` regenerates both.
"""

from __future__ import annotations

from ebmspec.reference import render_reference
from tests.conftest import ROOT


def test_reference_is_up_to_date(golden):
    golden(ROOT / "docs" / "pages" / "reference.md", render_reference())
