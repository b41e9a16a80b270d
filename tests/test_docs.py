"""The documentation: the MkDocs site builds with `--strict` (every link, anchor and page
checked; skipped without mkdocs: `pip install "ebmspec[docs]"`), the README stays short and its
links resolve, and the specs the pages show are the shipped ones and check."""

from __future__ import annotations

import re
import subprocess
import sys

import pytest

from tests.conftest import ROOT

PAGES = ROOT / "docs" / "pages"


def test_the_site_builds_strictly(tmp_path):
    pytest.importorskip("mkdocs")
    config = ROOT / "docs" / "mkdocs.yml"
    command = [sys.executable, "-m", "mkdocs", "build", "--strict", "-q", "-f", str(config)]
    result = subprocess.run(
        [*command, "-d", str(tmp_path / "site")], capture_output=True, text=True, timeout=300
    )
    assert result.returncode == 0, result.stdout + result.stderr
    for page in ("index", "tutorial", "reference", "cli", "python", "experiments"):
        path = tmp_path / "site" / ("index.html" if page == "index" else f"{page}/index.html")
        assert path.is_file(), page


def test_the_readme_stays_short_and_its_links_resolve():
    text = (ROOT / "README.md").read_text(encoding="utf-8")
    assert len(text.splitlines()) <= 250
    targets = re.findall(r"\]\(([^)#\s]+)(?:#[^)]*)?\)", text)
    assert targets, "the README links into the docs"
    missing = [t for t in targets if "://" not in t and not (ROOT / t).exists()]
    assert missing == []


def _first_block_after(text: str, marker: str) -> str:
    return re.search(r"```\n(.*?)```", text[text.index(marker) :], re.S).group(1)


def test_the_language_page_shows_the_readme_tour():
    marker = "This is `specs/dsprites_joint.ebm`"
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    page = (PAGES / "language.md").read_text(encoding="utf-8")
    assert _first_block_after(page, marker) == _first_block_after(readme, marker)


def test_the_tutorial_spec_checks(cli, tmp_path):
    text = (PAGES / "tutorial.md").read_text(encoding="utf-8")
    spec = _first_block_after(text, "Save this as `moons.ebm`")
    assert spec.startswith("model moons")
    (tmp_path / "moons.ebm").write_text(spec, encoding="utf-8")
    status, out, err = cli("check", str(tmp_path / "moons.ebm"))
    assert status == 0, err
    assert "moons" in out
