"""One CLI (issue 29, item 5): `--json` on check / sample / eval, `-o/--output` on every command
that writes (train keeps `--out`), `--seed` on train, `--set` on eval (sampler and evaluation keys
apply; any other key is a located E802), `-h` everywhere."""

from __future__ import annotations

import json

import pytest

from tests.cli.test_run_outputs import SMALL, _strict
from tests.conftest import ROOT


@pytest.fixture(scope="module")
def small_run(tmp_path_factory):
    from ebmspec.cli import main

    folder = tmp_path_factory.mktemp("options")
    spec = folder / "small.ebm"
    spec.write_text(SMALL)
    run = folder / "run"
    with pytest.raises(SystemExit) as done:
        main(["train", str(spec), "-o", str(run), "--device", "cpu", "--seed", "3"])
    assert done.value.code == 0
    return spec, run


def test_check_json_is_one_strict_object(cli):
    status, out, err = cli("check", str(ROOT / "specs" / "toy_joint.ebm"), "--json")
    assert status == 0, err
    summary = _strict(out)
    assert summary["model"] == "toy_joint" and summary["ok"] is True
    assert [v["name"] for v in summary["variables"]] == ["x", "y"]
    assert summary["variables"][1]["domain"] == "categorical(2)[3]"
    assert summary["parameter_total"] == sum(summary["parameters"].values()) > 0
    joint = summary["samplers"][0]
    assert joint["name"] == "joint" and [b["variables"] for b in joint["blocks"]] == [["y"], ["x"]]


def test_check_json_on_a_broken_spec_is_still_a_located_error(cli, tmp_path):
    spec = tmp_path / "bad.ebm"
    spec.write_text(SMALL.replace("mlp(", "mlpp("))
    status, out, err = cli("check", str(spec), "--json")
    assert status == 1 and out == "" and "error[E" in err and "mlpp" in err


def test_sample_json_reports_every_free_variable(cli):
    spec = str(ROOT / "specs" / "toy_joint.ebm")
    args = ("sample", spec, "-n", "8", "--steps", "4", "--json", "--device", "cpu")
    status, out, err = cli(*args, "--condition", "y=[0, 1, 1]")
    assert status == 0, err
    result = _strict(out)
    assert (
        result["chains"] == 8
        and result["sweeps"] == 4
        and result["conditions"] == {"y": "y=[0, 1, 1]"}
    )
    assert list(result["variables"]) == ["x"]  # y is clamped
    assert len(result["variables"]["x"]["mean"]) == 2
    assert [b["variables"] for b in result["blocks"]] == ["x"]


def test_train_seed_and_output_alias(small_run):
    _, run = small_run
    info = json.loads((run / "run.json").read_text())
    assert info["settings"] == ["train.seed=3"]
    meta = json.loads((run / "checkpoint.json").read_text())
    assert meta["iteration"] == 5


def test_train_out_is_still_accepted(cli, tmp_path, small_run):
    spec, _ = small_run
    for flag in ("--out", "--output"):
        run = tmp_path / flag.strip("-")
        status, _, err = cli("train", str(spec), flag, str(run), "--device", "cpu")
        assert status == 0, err
        assert (run / "checkpoint.safetensors").is_file()


def test_eval_set_applies_sampler_and_evaluation_keys(cli, small_run, tmp_path):
    _, run = small_run
    base = ("eval", str(run), "--limit", "100", "--json", "--device", "cpu", "--no-images")
    status, out, err = cli(*base)
    assert status == 0, err
    default = _strict(out)
    output = tmp_path / "eval-steps.json"
    status, out, err = cli(*base, "--set", "evaluate.samples.steps=1", "-o", str(output))
    assert status == 0, err
    changed = _strict(out)
    assert _strict(output.read_text()) == changed
    # one sweep instead of five: other chains, other sample-based predictions
    assert changed["per_attribute"] != default["per_attribute"]
    status, _, err = cli(*base, "--set", "train.iterations=3")
    assert status == 1
    assert "--set:1:1: error[E802]: `train.iterations` cannot change a trained run" in err
    assert "only `sampler.` and `evaluate.` keys apply" in err
    status, _, err = cli(*base, "--set", "nonsense.key=1")
    assert status == 1 and "error[E801]: unknown setting `nonsense.key`" in err


@pytest.mark.parametrize("command", ["check", "compile", "train", "sample", "eval", "plot", "runs"])
def test_every_command_takes_h_and_output_where_it_writes(cli, command):
    status, out, _ = cli(command, "-h")
    assert status == 0 and "Usage: ebmspec " + command in out
    if command not in ("check", "runs"):
        assert "--output" in out and "-o" in out
    if command in ("check", "sample", "eval", "runs"):
        assert "--json" in out
