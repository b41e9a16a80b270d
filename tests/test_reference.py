"""docs/pages/reference.md is generated from the registry and must stay in sync with it."""

from __future__ import annotations

from ebmspec.reference import render_reference
from tests.conftest import ROOT


def test_reference_is_up_to_date(golden):
    golden(ROOT / "docs" / "pages" / "reference.md", render_reference())
