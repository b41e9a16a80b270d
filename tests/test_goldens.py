"""Golden dumps of every pipeline stage of every shipped spec (`pytest --update-goldens` rewrites).

`ebmspec compile specs/<spec>.ebm --emit <stage>` runs from the repository root with a relative
path, so spans and file names in the output are stable; its stdout must equal
`tests/golden/<spec stem>.<stage>.txt`.
"""

from __future__ import annotations

import pytest

from tests.conftest import ROOT, SPECS

STAGES = ("ast", "ir", "schedule", "python")
GOLDEN = ROOT / "tests" / "golden"


@pytest.mark.parametrize("stage", STAGES)
@pytest.mark.parametrize("spec", SPECS, ids=lambda p: p.stem)
def test_stage_matches_golden(cli, golden, spec, stage):
    relative = spec.relative_to(ROOT).as_posix()
    status, out, err = cli("compile", relative, "--emit", stage, cwd=ROOT)
    assert status == 0, err
    assert err == ""
    assert out.endswith("\n") and out.strip()
    golden(GOLDEN / f"{spec.stem}.{stage}.txt", out)


def test_every_golden_belongs_to_a_spec_and_stage():
    """No stale goldens: each file under tests/golden/ named `<stem>.<stage>.txt` is checked."""
    expected = {f"{spec.stem}.{stage}.txt" for spec in SPECS for stage in STAGES}
    stale = []
    for path in GOLDEN.glob("*.txt"):
        parts = path.name.split(".")
        if len(parts) == 3 and parts[1] in STAGES and path.name not in expected:
            stale.append(path.name)
    assert not stale, f"golden files without a spec: {sorted(stale)}"
