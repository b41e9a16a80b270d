"""Golden dumps of every pipeline stage of every shipped spec (`pytest --update-goldens` rewrites).

`ebmspec compile specs/<spec>.ebm --emit <stage>` runs from the repository root with a relative
path, so spans and file names in the output are stable; its stdout must equal
`tests/golden/<spec stem>.<stage>.txt`. An emitted module copies the shared runtime (ops, blocks,
kernels, schedule, run-file reader) verbatim between markers; its golden keeps only what differs
between specs, and the verbatim code, the same in every module, is `runtime.python.txt`.
"""

from __future__ import annotations

import re

import pytest

from tests.conftest import ROOT, SPECS

STAGES = ("ast", "ir", "schedule", "python")
GOLDEN = ROOT / "tests" / "golden"
SHARED = GOLDEN / "runtime.python.txt"
VERBATIM = re.compile(
    r"^(# ---- verbatim from ebmspec: .*?)\n.*?^(# ---- end of verbatim code)$", re.S | re.M
)


def split_verbatim(module: str) -> tuple[str, str]:
    """(the module with each verbatim region reduced to its markers, the regions joined)."""
    regions: list[str] = []

    def reduce(match: re.Match) -> str:
        regions.append(match.group(0))
        return f"{match.group(1)}\n# (verbatim code: {SHARED.name})\n{match.group(2)}"

    return VERBATIM.sub(reduce, module), "\n\n".join(regions) + "\n"


@pytest.mark.parametrize("stage", STAGES)
@pytest.mark.parametrize("spec", SPECS, ids=lambda p: p.stem)
def test_stage_matches_golden(cli, golden, spec, stage):
    relative = spec.relative_to(ROOT).as_posix()
    status, out, err = cli("compile", relative, "--emit", stage, cwd=ROOT)
    assert status == 0, err
    assert err == ""
    assert out.endswith("\n") and out.strip()
    if stage == "python":
        out, shared = split_verbatim(out)
        assert shared.count("# ---- verbatim from ebmspec:") == 4
        golden(SHARED, shared)
    golden(GOLDEN / f"{spec.stem}.{stage}.txt", out)


def test_every_golden_belongs_to_a_spec_and_stage():
    """No stale goldens: each file under tests/golden/ named `<stem>.<stage>.txt` is checked."""
    expected = {f"{spec.stem}.{stage}.txt" for spec in SPECS for stage in STAGES} | {SHARED.name}
    stale = []
    for path in GOLDEN.glob("*.txt"):
        parts = path.name.split(".")
        if len(parts) == 3 and parts[1] in STAGES and path.name not in expected:
            stale.append(path.name)
    assert not stale, f"golden files without a spec: {sorted(stale)}"
