"""The CLI contract on the shipped specs: `check` exits 0 with a summary; usage errors exit 1."""

from __future__ import annotations

import shutil

import pytest
import torch

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
    assert "--profile:1:1: error[E927]: `" in err and "` has no profile `nonexistent`" in err
    assert "Traceback" not in err


def test_no_arguments_print_the_help_and_nothing_else(cli):
    status, out, err = cli()
    assert status == 0 and err == ""
    assert "Usage: ebmspec [OPTIONS] COMMAND [ARGS]..." in out and "train" in out


@pytest.mark.parametrize("command", ["check", "compile", "train", "sample", "eval"])
def test_help_names_values_not_python_types(cli, command, monkeypatch):
    """Typer's defaults showed `<bool>` on flags, `<list[str]>` on --set and `{spec}` in usage."""
    monkeypatch.setenv("COLUMNS", "120")
    status, out, _ = cli(command, "--help")
    assert status == 0
    for label in ("<bool>", "<list[str]>", "<str>", "<int", "{"):
        assert label not in out, (command, label)
    usage = {"sample": "[SPEC_OR_RUN]", "eval": "[RUN]"}.get(command, "SPEC")
    assert f"Usage: ebmspec {command} [OPTIONS] {usage}" in out


@pytest.mark.skipif(torch.cuda.is_available(), reason="this machine has CUDA")
def test_cuda_without_cuda_is_a_located_user_error(cli):
    status, _, err = cli("train", str(SPECS[0]), "--device", "cuda")
    assert status == 1 and "Traceback" not in err
    assert "--device:1:1: error[E928]: CUDA is not available on this machine" in err


@pytest.mark.parametrize("command", ["train", "sample"])
def test_cuda_graphs_off_cuda_is_a_located_user_error(cli, command):
    status, _, err = cli(command, str(SPECS[0]), "--device", "cpu", "--capture", "graphs")
    assert status == 1 and "Traceback" not in err
    assert "--capture:1:1: error[E931]: CUDA graphs need a CUDA device" in err
    assert "| ^~~~~~" in err and "help: use `--capture compile`" in err


@pytest.mark.slow
@pytest.mark.skipif(
    shutil.which("c++") is None and shutil.which("g++") is None, reason="inductor needs C++"
)
def test_sample_and_train_with_captured_sweeps(cli, tmp_path):
    """`--capture compile` end to end (inductor: a C++ compiler, tens of seconds to compile)."""
    toy = str(SPECS[0].parent / "toy_joint.ebm")
    status, out, err = cli("sample", toy, "-n", "16", "--steps", "6", "--capture", "compile")
    assert status == 0, err
    assert "16 chains x 6 sweeps" in out
    run = tmp_path / "run"
    args = ("train", toy, "--profile", "smoke", "--out", str(run), "--capture", "compile")
    status, _, err = cli(*args)
    assert status == 0, err
    assert (run / "checkpoint.json").exists()


@pytest.mark.parametrize("command", [(), ("check",), ("sample",), ("eval",)])
def test_dash_h_is_help(cli, command):
    status, out, _ = cli(*command, "-h")
    assert status == 0 and "Usage: ebmspec" in out
