"""The malformed-spec corpus: every file in tests/malformed/ holds exactly one deliberate mistake.

`ebmspec check` must exit 1 without a traceback and print located diagnostics (caret and help)
whose full text equals the golden `.expected` file next to the spec (`pytest --update-goldens`
rewrites them; review the diff like any other change to a message).
"""

from __future__ import annotations

import re
import subprocess
import sys

import pytest

from tests.conftest import ROOT

MALFORMED = sorted((ROOT / "tests" / "malformed").glob("*.ebm"))
HEAD = re.compile(r"^tests/malformed/\S+\.ebm:\d+:\d+: error\[E\d{3}\]: .+")
CARET = re.compile(r"^\s*\| *\^~*$", re.M)
CODE = re.compile(r"error\[(E\d{3})\]")


def _relative(spec) -> str:
    return spec.relative_to(ROOT).as_posix()


@pytest.mark.parametrize("spec", MALFORMED, ids=lambda p: p.stem)
def test_malformed_spec_is_reported(cli, golden, spec):
    status, out, err = cli("check", _relative(spec), cwd=ROOT)
    assert status == 1, out + err
    assert "Traceback" not in err
    assert HEAD.match(err.splitlines()[0]), err
    assert CARET.search(err), err
    assert "= help: " in err
    golden(spec.with_suffix(".expected"), err)


def test_corpus_is_large_and_varied():
    codes = set()
    for spec in MALFORMED:
        expected = spec.with_suffix(".expected")
        assert expected.exists(), f"missing {expected.name}; run pytest --update-goldens"
        codes.update(CODE.findall(expected.read_text(encoding="utf-8")))
    assert len(MALFORMED) >= 35
    assert len(codes) >= 25, sorted(codes)


@pytest.mark.parametrize("name", ["016_gwg_on_real.ebm", "032_unterminated_block.ebm"])
def test_console_script_reports_without_traceback(name):
    path = f"tests/malformed/{name}"
    done = subprocess.run(
        [sys.executable, "-m", "ebmspec", "check", path],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 1, done.stdout + done.stderr
    assert "Traceback" not in done.stderr
    assert done.stderr.startswith(f"{path}:")
