"""The CLI contract on the shipped specs: `check` exits 0 with a summary; usage errors exit 1."""

from __future__ import annotations

import pytest

from tests.conftest import SPECS


@pytest.mark.parametrize("spec", SPECS, ids=lambda p: p.name)
def test_check_every_spec_exits_zero(cli, spec):
    status, out, err = cli("check", str(spec))
    assert status == 0, err
    assert ": ok" in out and "total" in out


def test_missing_file_is_a_user_error(cli, tmp_path):
    status, out, err = cli("check", str(tmp_path / "nope.ebm"))
    assert status == 1
    assert "error[E000]: cannot read spec file" in err
    assert "Traceback" not in err


def test_unknown_profile_is_a_user_error(cli):
    status, _, err = cli("check", str(SPECS[0]), "--profile", "nonexistent")
    assert status == 1
    assert "has no profile 'nonexistent'" in err
    assert "Traceback" not in err
