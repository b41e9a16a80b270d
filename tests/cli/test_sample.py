"""`ebmspec sample`: conditioned samples of a spec's freshly initialised model, as a PNG grid, an
.npz or a summary; every bad `--condition`, output or argument is a located error, exit 1, no file.
"""

from __future__ import annotations

import io

import numpy as np
import pytest
import torch
from PIL import Image

from ebmspec.api import compile_file
from ebmspec.runtime.plots.pixels import to_pixels
from tests.conftest import ROOT

DSPRITES = str(ROOT / "specs" / "dsprites_joint.ebm")
TOY = str(ROOT / "specs" / "toy_joint.ebm")

# Every domain: a bounded real, binaries, an array of categoricals and an RGB image.
TINY = """\
model tiny "conditions of every domain"

variables {
  x   : real[2] in [-1, 1]
  b   : binary[3]
  c   : categorical(3)[2]
  img : real[3, 4, 4]
}

energy {
  return mlp(concat(x, b, onehot(c), flatten(img)), hidden = [8])
}
"""


def read_png(data: bytes) -> Image.Image:
    """The PNG, checked to be matplotlib's (its `Software` text chunk)."""
    image = Image.open(io.BytesIO(data))
    assert image.format == "PNG"
    assert image.info["Software"].startswith("Matplotlib version"), image.info
    return image


def test_acceptance_command_writes_a_4x4_grid_png(cli, tmp_path):
    status, out, err = cli(
        "sample", DSPRITES, "--condition", "x_pos=3", "-n", "16", "--steps", "2",
        "-o", "grid.png", cwd=tmp_path,
    )  # fmt: skip
    assert status == 0, err
    assert out == ""
    assert "wrote grid.png (a grid of 16 samples of `x`)" in err
    assert "note: `init x ~ uniform_data_range` needs the data statistics of a training run" in err
    image = read_png((tmp_path / "grid.png").read_bytes())
    # 4 x 4 tiles of 32 x 32 and 1-pixel gaps (133 pixels) enlarged 5 times, plus the title.
    width, height = image.size
    assert 5 * 133 <= width < 5 * 133 + 150 and 5 * 133 <= height < 5 * 133 + 150
    assert sorted(p.name for p in tmp_path.iterdir()) == ["grid.png"]  # no temp file left


def test_npz_holds_every_variable_and_the_clamped_value(cli, tmp_path):
    status, _, err = cli(
        "sample", DSPRITES, "-c", "x_pos=3", "-n", "6", "--steps", "8", "-o", "s.npz",
        cwd=tmp_path,
    )  # fmt: skip
    assert status == 0, err
    with np.load(tmp_path / "s.npz") as saved:
        data = {key: saved[key] for key in saved.files}
    assert set(data) == {"x", "x_pos", "y_pos", "sampler.blocks", "sampler.acceptance",
                         "sampler.moves", "diagnostics.variables", "diagnostics.rhat",
                         "diagnostics.rhat_over_1_01", "diagnostics.ess_bulk",
                         "diagnostics.ess_tail", "diagnostics.ess_per_second"}  # fmt: skip
    # R-hat and bulk ESS of the free variables over the last 4 of the 8 sweeps
    assert data["diagnostics.variables"].tolist() == ["x", "y_pos"]
    assert (data["diagnostics.rhat"] > 0.5).all() and (data["diagnostics.ess_bulk"] > 0).all()
    assert data["x"].shape == (6, 1, 32, 32) and data["x"].dtype == np.float32
    assert data["x_pos"].tolist() == [3] * 6  # clamped in every chain, as integer codes
    assert data["y_pos"].dtype == np.int64 and ((data["y_pos"] >= 0) & (data["y_pos"] < 16)).all()
    # x_pos is clamped, so the GWG block updates y_pos alone.
    assert data["sampler.blocks"].tolist() == ["block 0: gwg(y_pos)", "block 1: langevin(x)"]
    assert ((data["sampler.acceptance"] >= 0) & (data["sampler.acceptance"] <= 1)).all()
    assert (data["sampler.moves"] >= 0).all()


def test_same_seed_same_samples_and_set_changes_the_default_sweeps(cli, tmp_path):
    runs = []
    for name in ("a.npz", "b.npz"):
        args = ("sample", TOY, "-n", "8", "--set", "sampler.joint.sweeps=3", "-o", name)
        status, _, err = cli(*args, cwd=tmp_path)
        assert status == 0, err
        with np.load(tmp_path / name) as saved:
            runs.append({key: saved[key] for key in saved.files})
    assert all(np.array_equal(runs[0][key], runs[1][key]) for key in runs[0])
    status, out, _ = cli("sample", TOY, "-n", "8", "--set", "sampler.joint.sweeps=3", "--seed", "1")
    assert status == 0 and "8 chains x 3 sweeps of sampler `joint` (seed 1, cpu)" in out


def test_summary_without_output(cli, tmp_path):
    status, out, err = cli("sample", TOY, "-n", "20", "--steps", "3", "-c", "y=[0, 1, 1]")
    assert status == 0, err
    assert "freshly initialised model (parameter seed 0)" in out
    assert "clamped: y=[0, 1, 1]" in out
    assert "mean [" in out and "std [" in out  # x: real[2], per element
    assert "block 1" in out and "langevin" in out and "acceptance" in out
    assert "block 0" not in out  # y is clamped, so its GWG block does not run
    assert "`init y ~ data_frequency`" not in err  # clamped: its init does not matter
    status, out, _ = cli("sample", TOY, "-n", "20", "--steps", "8")
    assert status == 0 and "[0] mode" in out and "gwg" in out
    assert "split R-hat" in out and "bulk ESS" in out  # over the last 4 of the 8 sweeps


def test_every_domain_of_a_tiny_spec(cli, tmp_path):
    (tmp_path / "tiny.ebm").write_text(TINY, encoding="utf-8")
    status, _, err = cli(
        "sample", "tiny.ebm", "-n", "5", "--steps", "2", "-c", "x=[0.5, -1]",
        "-c", "b=[1, 0, true]", "-c", "c=[2, 0]", "-c", "img=0.25", "-o", "t.npz", cwd=tmp_path,
    )  # fmt: skip
    assert status == 0, err
    with np.load(tmp_path / "t.npz") as saved:
        assert saved["x"].tolist() == [[0.5, -1.0]] * 5
        assert saved["b"].tolist() == [[1, 0, 1]] * 5
        assert saved["c"].tolist() == [[2, 0]] * 5
        assert (saved["img"] == 0.25).all() and saved["img"].shape == (5, 3, 4, 4)
        assert saved["sampler.blocks"].tolist() == []  # everything clamped: no block ran
    status, _, err = cli("sample", "tiny.ebm", "-n", "5", "--steps", "2", "-o", "t.png")
    assert status == 0, err
    image = read_png((tmp_path / "t.png").read_bytes())
    # 5 RGB tiles of 4 x 4 in 3 columns and 2 rows (16 x 11 pixels with the gaps), enlarged 16
    # times (the most), in a figure at least 3 inches (360 pixels) wide for the title.
    assert image.size[0] == 360 and 11 * 16 <= image.size[1] < 11 * 16 + 150
    colours = np.asarray(image.convert("RGB")).reshape(-1, 3)
    assert (colours[:, 0] != colours[:, 1]).any()  # an RGB picture, not a grey one


# The exact rendering of each mistake: code, message, the argument quoted, the caret, the help.
BAD_CONDITIONS = [
    (
        ("x_pos=16",),
        """\
--condition:1:7: error[E905]: `x_pos` (categorical(16)) takes a category in [0, 16), found `16`
    1 | x_pos=16
      |       ^~
      = help: write an integer from 0 to 15
1 error in --condition
""",
    ),
    (
        ("x_pos3",),
        """\
--condition:1:7: error[E901]: malformed condition `x_pos3`: expected `=` and a value after \
the variable name
    1 | x_pos3
      |       ^
      = help: write `--condition NAME=VALUE`, e.g. `--condition x_pos=3`
1 error in --condition
""",
    ),
    (
        ("xpos=3",),
        """\
--condition:1:1: error[E902]: unknown variable `xpos`; did you mean `x_pos`?
    1 | xpos=3
      | ^~~~
      = help: the variables of `dsprites_joint` are: x, x_pos, y_pos
1 error in --condition
""",
    ),
    (
        ("x=[0.5, 0.5]",),
        """\
--condition:1:3: error[E906]: wrong shape for `x` (real[1, 32, 32] in [-14, 14]): expected a \
number or a list of shape [1, 32, 32], found a list of shape [2]
    1 | x=[0.5, 0.5]
      |   ^~~~~~~~~~
      = help: give one number (used for every element) or a nested list of shape [1, 32, 32]
1 error in --condition
""",
    ),
    (
        ("y_pos=[1, 2]",),
        """\
--condition:1:7: error[E906]: wrong shape for `y_pos` (categorical(16)): expected a single \
category, found a list of shape [2]
    1 | y_pos=[1, 2]
      |       ^~~~~~
      = help: e.g. `--condition y_pos=3`
1 error in --condition
""",
    ),
    (
        ("x_pos = 2.5",),
        """\
--condition:1:9: error[E904]: expected a category in [0, 16) for `x_pos`, found `2.5`
    1 | x_pos = 2.5
      |         ^~~
      = help: write an integer from 0 to 15
1 error in --condition
""",
    ),
    (
        ('x_pos="3"',),
        """\
--condition:1:7: error[E904]: expected a category in [0, 16) for `x_pos`, found the string "3"
    1 | x_pos="3"
      |       ^~~
      = help: drop the quotes: `3`
1 error in --condition
""",
    ),
    (
        ("x_pos=3", "x_pos=4"),
        """\
--condition:1:1: error[E903]: `x_pos` is conditioned twice: already by `--condition x_pos=3`
    1 | x_pos=4
      | ^~~~~
      = help: give each variable one --condition
1 error in --condition
""",
    ),
    (
        ("x_pos=",),
        """\
--condition:1:7: error[E015]: expected an expression, found the end of the condition
    1 | x_pos=
      |       ^
      = help: an expression is a number, a name, a call such as `mlp(x, hidden = [64])`, a list, \
or arithmetic of those
1 error in --condition
""",
    ),
]


@pytest.mark.parametrize(("conditions", "expected"), BAD_CONDITIONS, ids=lambda c: str(c)[:24])
def test_bad_conditions_are_located_errors_and_write_nothing(cli, tmp_path, conditions, expected):
    args = [arg for text in conditions for arg in ("--condition", text)]
    status, out, err = cli("sample", DSPRITES, *args, "-n", "16", "-o", "grid.png", cwd=tmp_path)
    assert status == 1 and out == ""
    assert err == expected
    assert "Traceback" not in err
    assert list(tmp_path.iterdir()) == []


TINY_CONDITIONS = [
    ("x=[0.5, 2]", "--condition:1:9: error[E905]: `x` must lie in [-1, 1], found `2`"),
    ("x=1e400", "--condition:1:3: error[E905]: `x` must be finite, found `inf`"),
    ("b=[1, 2, 0]", "--condition:1:7: error[E905]: `b` (binary[3]) takes 0 or 1, found `2`"),
    (
        "c=2",
        "--condition:1:3: error[E906]: wrong shape for `c` (categorical(3)[2]): expected a list "
        "of 2 categories, found a single value",
    ),
    (
        "img=[[[1]], [[1, 2]]]",
        "--condition:1:13: error[E906]: ragged list: this item has shape [1, 2], the first [1, 1]",
    ),
    ("a.b=1", "--condition:1:1: error[E902]: unknown variable `a.b`"),
]


@pytest.mark.parametrize(("condition", "first_line"), TINY_CONDITIONS)
def test_bad_conditions_of_every_domain(cli, tmp_path, condition, first_line):
    (tmp_path / "tiny.ebm").write_text(TINY, encoding="utf-8")
    status, out, err = cli("sample", "tiny.ebm", "-c", condition, "-o", "t.npz", cwd=tmp_path)
    assert status == 1 and out == ""
    assert err.splitlines()[0] == first_line
    assert f"    1 | {condition}" in err and "Traceback" not in err
    assert [p.name for p in tmp_path.iterdir()] == ["tiny.ebm"]


def test_two_wrong_values_are_reported_together(cli, tmp_path):
    (tmp_path / "tiny.ebm").write_text(TINY, encoding="utf-8")
    status, _, err = cli("sample", "tiny.ebm", "-c", "b=[1, 2, 0.5]", cwd=tmp_path)
    assert status == 1
    assert "1:7: error[E905]" in err and "1:10: error[E904]" in err and "2 errors" in err


BAD_ARGUMENTS = [
    (
        (DSPRITES, "-o", "out/grid.jpg"),
        """\
--output:1:9: error[E910]: cannot write `.jpg` files: samples are saved as .png (an image grid), \
.npz or .nc (ArviZ InferenceData)
    1 | out/grid.jpg
      |         ^~~~
      = help: end the file name in .png, .npz or .nc, e.g. `-o samples.png`
1 error in --output
""",
    ),
    (
        (TOY, "-o", "toy.png"),
        """\
--output:1:4: error[E912]: `toy_joint` has no image variable to draw (a real variable of shape \
[1, H, W] or [3, H, W])
    1 | toy.png
      |    ^~~~
      = help: save every variable instead: `-o toy.npz`
1 error in --output
""",
    ),
    (
        (DSPRITES, "--sampler", "jont"),
        """\
--sampler:1:1: error[E913]: unknown sampler `jont`; did you mean `joint`?
    1 | jont
      | ^~~~
      = help: the samplers of `dsprites_joint` are: joint
1 error in --sampler
""",
    ),
    (
        (".", "-o", "grid.png"),
        """\
SPEC_OR_RUN:1:1: error[E922]: `.` is not a run folder (it has no run.json and spec.ebm)
    1 | .
      | ^
      = help: run folders are written by `ebmspec train`: name one, or leave it out for the latest \
(`sample` also takes a .ebm spec)
1 error in SPEC_OR_RUN
""",
    ),
]


@pytest.mark.parametrize(("args", "expected"), BAD_ARGUMENTS, ids=lambda a: str(a)[-30:])
def test_bad_arguments_are_located_errors_and_write_nothing(cli, tmp_path, args, expected):
    status, out, err = cli("sample", *args, "--steps", "1", cwd=tmp_path)
    assert (status, out, err) == (1, "", expected)
    assert list(tmp_path.iterdir()) == []


def test_unwritable_output_and_missing_spec_are_user_errors(cli, tmp_path):
    (tmp_path / "file").write_text("", encoding="utf-8")
    status, _, err = cli("sample", TOY, "--steps", "1", "-o", "file/s.npz", cwd=tmp_path)
    assert status == 1 and "error[E914]: cannot write `file/s.npz`" in err
    assert "Traceback" not in err and [p.name for p in tmp_path.iterdir()] == ["file"]
    status, _, err = cli("sample", "nope.ebm")
    assert status == 1 and "error[E000]: cannot read spec file" in err


def test_usage_mistakes_exit_1(cli):
    status, _, err = cli("sample", TOY, "-n", "0")
    assert status == 1 and "--chains" in err
    status, _, err = cli("sample", TOY, "--device", "tpu")
    assert status == 1 and "--device" in err


def test_progress_bar_on_a_terminal(cli, monkeypatch):
    import sys

    monkeypatch.setattr(sys.stderr, "isatty", lambda: True)
    status, _, err = cli("sample", TOY, "-n", "4", "--steps", "3")
    assert status == 0, err
    assert "sweeps" in err and "3/3" in err  # the bar reached the last sweep


def test_pixels_invert_the_dataset_transforms():
    program = compile_file(DSPRITES)  # transform x: dequantize(levels = 8) |> logit(eps = 1e-6)
    variable = program.variables[0]
    levels, eps = 8, 1e-6
    pixels = torch.arange(levels, dtype=torch.float32) / (levels - 1)
    centre = (pixels * (levels - 1) + 0.5) / levels  # the middle of each dequantisation bin
    squeezed = centre * (1 - 2 * eps) + eps
    values = torch.log(squeezed / (1 - squeezed)).reshape(1, 1, 1, levels)
    back = to_pixels(program, variable, values)
    assert torch.allclose(back.reshape(-1), pixels, atol=1e-5)
    assert to_pixels(program, variable, torch.full((1, 1, 1, 1), 50.0)).item() == 1.0


def test_settings_on_a_run_folder_apply_to_its_sampler_or_are_refused(cli, tmp_path):
    """`sample RUN --set` used to be ignored: a sampler key now applies, an unknown key is E801
    and a key that would need retraining E802, both located in the setting (exit 1)."""
    from tests.conftest import ROOT

    spec = ROOT / "specs" / "table_pairs.ebm"
    status, _, err = cli("train", str(spec), "--out", str(tmp_path / "run"),
                         "--set", "train.iterations=5", "--device", "cpu")  # fmt: skip
    assert status == 0, err
    run = str(tmp_path / "run")
    status, out, err = cli("sample", run, "--set", "sampler.default.sweeps=3", "-n", "4")
    assert status == 0, err
    assert "4 chains x 3 sweeps" in out
    status, _, err = cli("sample", run, "--set", "nonsense.key=1")
    assert status == 1 and "--set:1:1: error[E801]: unknown setting `nonsense.key`" in err
    status, _, err = cli("sample", run, "--set", "train.iterations=3")
    assert status == 1 and "error[E802]: `train.iterations` cannot change a trained run" in err
    status, _, err = cli("sample", run, "--profile", "nope")
    assert status == 1 and "error[E927]" in err


def test_npz_adds_transformed_variables_in_data_units(tmp_path):
    """`data.NAME`: a standardized variable's samples with the fitted transform inverted (the
    Python API's samples[NAME]); the variable's own array stays in model space."""
    from ebmspec.cli.sample import npz_bytes
    from ebmspec.runtime.data.transforms import fit_transforms

    program = compile_file(TOY)
    names = [v.name for v in program.variables if v.kind == "real"]
    assert names, "the toy spec has a real variable"
    name = names[0]
    data = program.data
    data = type(data)(data.source, (*data.transforms, _standardize(name, data)), data.span)
    train = {name: torch.randn(500, *program.variable(name).shape) * 3 + 5}
    pipelines = fit_transforms(data, train)
    model_space = torch.randn(4, *program.variable(name).shape)
    values = {v.name: torch.zeros(4, *v.tensor_shape) for v in program.variables}
    values[name] = model_space
    saved = np.load(io.BytesIO(npz_bytes(program, values, [], None, None, pipelines)))
    assert np.array_equal(saved[name], model_space.numpy())
    expected = pipelines[name].inverse(model_space).numpy()
    assert np.allclose(saved[f"data.{name}"], expected) and abs(expected.mean() - 5) < 3


def _standardize(name, data):
    from ebmspec import ir

    return ir.Transform(name, (ir.Call("standardize", (), data.span),), data.span)
