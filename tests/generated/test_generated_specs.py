"""Property: a spec the checker accepts runs end to end (issue 31, items 1 and 2).

Generated well-typed specs (`tests.generated.specs`) go through the CLI: `check` -> `compile`
(the emitted module's energies equal the in-process ones) for a few hundred, and on through
`sample` with a random condition -> `train` -> `eval` for 60. An internal error, a
non-finite value nobody reported, or a located user error on a generated spec fails. The slow
test runs 2,000 more end to end in 8 shards and prints which registry rows they exercised.
Every failure found is kept in `regressions/` and run through the same pipeline; a file starting
`# expect: EXXX` must instead stop with that located error (and never an internal one).
"""

from __future__ import annotations

import os
import re
import shutil
import tempfile
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, seed, settings

from tests.generated.coverage import Coverage
from tests.generated.pipeline import check_and_compile, cli, end_to_end
from tests.generated.specs import specs

CHECK_AND_COMPILE, END_TO_END = 200, 60  # the default run: 260 specs
SLOW_TOTAL, SHARDS = 2000, 8
REGRESSIONS = sorted((Path(__file__).parent / "regressions").glob("*.ebm"))


def _settings(examples: int, derandomize: bool = True):
    return settings(
        max_examples=examples,
        deadline=None,
        derandomize=derandomize,
        database=None,
        suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
    )


@_settings(CHECK_AND_COMPILE)
@given(specs())
def test_generated_specs_check_and_compile(generated):
    with tempfile.TemporaryDirectory() as folder:
        check_and_compile(generated.write(Path(folder)), Path(folder))


@_settings(END_TO_END)
@given(specs())
def test_generated_specs_run_end_to_end(generated):
    with tempfile.TemporaryDirectory() as folder:
        spec = generated.write(Path(folder))
        end_to_end(spec, Path(folder), generated.condition, generated.profile)


@pytest.mark.slow
@pytest.mark.parametrize("shard", range(SHARDS))
def test_two_thousand_generated_specs_cover_the_registry(shard, capsys):
    """SHARDS x 250 specs end to end (shards, so that `-n 2` uses both cores), each shard its
    own Hypothesis seed. With EBMSPEC_GENERATED_COVERAGE=DIR each shard saves its coverage
    there, and `python -m tests.generated.coverage DIR` prints the whole and fails on a registry
    row no spec used (CI's generated-specs step)."""
    coverage = Coverage()

    @seed(shard)
    @_settings(SLOW_TOTAL // SHARDS, derandomize=False)
    @given(specs())
    def run(generated):
        coverage.add(generated.text)
        with tempfile.TemporaryDirectory() as folder:
            spec = generated.write(Path(folder))
            end_to_end(spec, Path(folder), generated.condition, generated.profile)

    run()
    assert coverage.specs == SLOW_TOTAL // SHARDS
    folder = os.environ.get("EBMSPEC_GENERATED_COVERAGE")
    if folder:
        coverage.save(Path(folder) / f"shard-{shard}.json")
    with capsys.disabled():
        print(f"\nshard {shard}: " + coverage.report())


def _bits(folder: Path) -> None:
    import numpy as np

    np.savez(folder / "bits.npz", b=np.zeros((16, 64), dtype=np.int64))


@pytest.mark.parametrize("path", REGRESSIONS, ids=[p.stem for p in REGRESSIONS])
def test_regression(path, tmp_path):
    text = path.read_text(encoding="utf-8")
    spec = tmp_path / path.name
    spec.write_text(text, encoding="utf-8")
    _bits(tmp_path)
    for data in [*path.parent.glob("*.csv"), *path.parent.glob("*.npz")]:
        shutil.copy(data, tmp_path / data.name)
    expected = re.match(r"# expect: (E\d{3})", text)
    if expected is None:
        end_to_end(spec, tmp_path)
        return
    # The refusal comes at `check` when the spec alone decides it, else when `train` starts:
    # a located error with the code, never an internal error.
    for args in (["check", str(spec)], ["train", str(spec), "--out", str(tmp_path / "run")]):
        status, _, err = cli(*args)
        assert status != 2, err
        if status == 1:
            assert f"error[{expected.group(1)}]" in err and f"{path.name}:" in err, err
            return
    raise AssertionError(f"{path.name} was not refused with {expected.group(1)}")
