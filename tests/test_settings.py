"""`--set key=value` overrides: validated against the spec's own keys, applied after `--profile`."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

SPEC = "specs/toy_joint.ebm"


def test_set_applies_after_the_profile(cli):
    status, out, err = cli(
        "check", SPEC, "--profile", "cpu", "--set", "train.iterations=77",
        "--set", "sampler.joint.x.noise = 0.2", "--set", 'data.attributes="hierarch"',
    )  # fmt: skip
    assert status == 0, err
    assert "iterations=77" in out and "batch=500" in out  # --set wins, the profile stays
    assert "langevin(step=0.01, noise=0.2)" in out
    assert "attributes=hierarch" in out


def test_set_changes_the_ir_dump(cli):
    status, out, _ = cli("compile", SPEC, "--emit", "ir", "--set", "train.objective.reinit=0.1")
    assert status == 0
    assert "pcd(sampler=joint, steps=20, buffer=10000, reinit=0.1, latents=auto)" in out


@pytest.mark.parametrize(
    ("setting", "code", "column", "message"),
    [
        ("train.iteration=3", "E801", 1, "unknown setting `train.iteration`; did you mean"),
        ("train.batch=1.5", "E201", 13, "expected a positive integer for `train.batch`"),
        ("train.iterations=1e3", "E201", 18, "for `train.iterations`, found `1e3`"),
        ("train.optimizer.betas=[0.9]", "E202", 23, "`train.optimizer.betas` must be two numbers"),
        ("train.optimizer.betas=[0.9, 1]", "E202", 29, "must be in [0, 1), found `1`"),
        ("train.ema=2", "E202", 11, "`train.ema` must be a number in [0, 1]"),
        ('data.attributes="both"', "E203", 17, 'unknown value "both"'),
        ("x_pos3", "E009", 7, "unexpected end of input"),
        ("train.batch=", "E015", 13, "expected an expression"),
    ],
)
def test_bad_settings_are_located_user_errors(cli, setting, code, column, message):
    status, out, err = cli("check", SPEC, "--set", setting)
    assert status == 1 and out == ""
    first = err.splitlines()[0]
    assert first.startswith(f"--set:1:{column}: error[{code}]: "), first
    assert message in first
    assert f"    1 | {setting}" in err and "= help: " in err and "Traceback" not in err


def test_set_and_profiles_can_replace_the_whole_objective(cli, tmp_path):
    status, out, err = cli(
        "check", SPEC, "--set", "train.objective = jem(alpha = 3, generative = conditional)",
        "--set", "train.objective.steps = 7",
    )  # fmt: skip
    assert status == 0, err
    expected = "objective: jem(sampler=joint, steps=7, buffer=10000, reinit=0.05, latents=auto"
    assert expected + ", alpha=3" in out
    assert "generative=conditional, collapse=True)" in out
    spec = tmp_path / "p.ebm"
    # A key after a call on the next line (LALR once read its `train` as the block keyword).
    profile = "profile gen {\n  train.objective = cd(steps = 4)\n  train.iterations = 9\n}\n"
    text = Path(SPEC).read_text() + "\n" + profile
    spec.write_text(text)
    status, out, err = cli("check", str(spec), "--profile", "gen")
    assert status == 0, err
    assert "objective: cd(sampler=joint, steps=4, latents=auto, start=init)" in out
    assert "iterations=9" in out


@pytest.mark.parametrize(
    ("setting", "code", "message"),
    [
        ("train.objective = pcdd(steps = 3)", "E103", "unknown objective `pcdd`; did you mean"),
        ("train.objective = jem(generative = joint)", "E203", "unknown value `joint`"),
        ("train.objective = pcd(stepz = 3)", "E104", "`pcd` has no argument `stepz`"),
        ("train.optimizer = adam(lr = -1)", "E202", "`lr`"),
    ],
)
def test_bad_objectives_in_settings_are_located(cli, setting, code, message):
    status, out, err = cli("check", SPEC, "--set", setting)
    assert status == 1 and out == ""
    assert f"error[{code}]" in err and message in err, err
    assert "Traceback" not in err


def _inits(ir_dump: str) -> list[tuple[str, str]]:
    """(variables, distribution) of every init in an `--emit ir` dump."""
    return re.findall(r"variables: \[([^\]]*)\]\n\s+dist: (\w+)\(", ir_dump)


def test_an_init_distribution_can_be_set_and_leaves_the_shared_init_of_the_others(cli):
    spec = "specs/dsprites_joint.ebm"
    status, out, err = cli("compile", spec, "--emit", "ir")
    assert status == 0, err
    assert _inits(out) == [("x", "uniform_data_range"), ("x_pos, y_pos", "uniform")]
    status, out, err = cli(
        "compile", spec, "--emit", "ir", "--set", "sampler.joint.init.x=normal_data"
    )
    assert status == 0, err
    assert _inits(out) == [("x", "normal_data"), ("x_pos, y_pos", "uniform")]
    status, out, err = cli(
        "compile", spec, "--emit", "ir", "--set", "sampler.joint.init.y_pos=data_frequency"
    )
    assert status == 0, err
    assert _inits(out) == [
        ("x", "uniform_data_range"), ("x_pos", "uniform"), ("y_pos", "data_frequency"),
    ]  # fmt: skip


@pytest.mark.parametrize(
    ("setting", "code", "column", "message"),
    [
        ("sampler.joint.init.x=gwg", "E103", 22, "unknown init distribution `gwg`"),
        ("sampler.joint.init.x_pos=normal_data", "E402", 26, "normal_data cannot initialise"),
        ("sampler.joint.init.x=3", "E201", 22, "must be a name or a call"),
        ("sampler.joint.init.x=normal(sd = 2)", "E104", 29, "has no argument `sd`"),
        ("sampler.joint.init.z=uniform", "E801", 1, "unknown setting `sampler.joint.init.z`"),
    ],
)
def test_bad_init_settings_are_located(cli, setting, code, column, message):
    status, out, err = cli("check", "specs/dsprites_joint.ebm", "--set", setting)
    assert status == 1 and out == ""
    first = err.splitlines()[0]
    assert first.startswith(f"--set:1:{column}: error[{code}"), first
    assert message in first
