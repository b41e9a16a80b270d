"""Shared test fixtures: golden files (refreshed only with `--update-goldens`) and a CLI runner.

`golden(path, actual)` compares text with `tests/golden/...`; with `pytest --update-goldens` it
rewrites the file instead, so every change to a dump or a diagnostic shows up as a reviewed diff.
`cli(*args)` runs `ebmspec` in-process through the same `main()` as the console script and returns
(exit status, stdout, stderr). `slow` tests run only with `-m slow`.
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest

# The default run spreads over the cores with pytest-xdist (`-n auto`): one worker per core, so
# each worker computes with one thread (and so do the processes it starts, which inherit the
# variables) - two-thread workers on two cores would fight over them.
if os.environ.get("PYTEST_XDIST_WORKER"):
    for _variable in ("OMP_NUM_THREADS", "MKL_NUM_THREADS"):
        os.environ[_variable] = "1"
    import torch

    torch.set_num_threads(1)

ROOT = Path(__file__).resolve().parent.parent
SPECS = sorted((ROOT / "specs").glob("*.ebm"))


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """`slow` tests are out of the default run (CI's budget) unless `-m` names them; a slow case
    parametrised on a CUDA device stays in, since the GPU makes it cheap."""
    if "slow" in (config.option.markexpr or ""):
        return
    skip = pytest.mark.skip(reason="slow: run with -m slow")
    for item in items:
        callspec = getattr(item, "callspec", None)
        on_gpu = callspec is not None and callspec.params.get("device") == "cuda"
        if item.get_closest_marker("slow") and not on_gpu:
            item.add_marker(skip)


def pytest_addoption(parser: pytest.Parser) -> None:
    parser.addoption(
        "--update-goldens",
        action="store_true",
        default=False,
        help="rewrite golden files under tests/ from the current output instead of comparing",
    )


@pytest.fixture
def golden(request: pytest.FixtureRequest):
    update = request.config.getoption("--update-goldens")

    def check(path: Path, actual: str) -> None:
        if update:
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_text(actual, encoding="utf-8")
            return
        assert path.exists(), f"missing golden file {path}; run pytest --update-goldens"
        expected = path.read_text(encoding="utf-8")
        assert actual == expected, f"output differs from golden {path} (--update-goldens)"

    return check


@pytest.fixture
def cli(capsys: pytest.CaptureFixture, monkeypatch: pytest.MonkeyPatch):
    from ebmspec.cli import main

    def run(*args: str, cwd: Path | None = None) -> tuple[int, str, str]:
        if cwd is not None:
            monkeypatch.chdir(cwd)
        capsys.readouterr()
        try:
            main(list(args))
            status = 0
        except SystemExit as done:
            status = done.code if isinstance(done.code, int) else 1
        out, err = capsys.readouterr()
        return status, out, err

    return run
