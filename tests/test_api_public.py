"""The public Python API (`ebmspec.load`, `Model.fit`, `ebmspec.load_run`, `Run.sample`,
`Run.evaluate`): conditions given as Python values and their located errors, decoded samples
(category codes as given, reals back in data space through the fitted transforms), a run folder
the CLI reads, the dict `ebmspec eval` computes, and short reprs."""

from __future__ import annotations

import json
import subprocess
import sys

import numpy as np
import pytest
import torch

import ebmspec
from ebmspec.api.values import conditions
from tests.conftest import ROOT

# A tiny model whose real variable is standardized, trained by score matching (no chains).
SPEC = """\
model toy_std "8 Gaussians, the points standardized"
data toy(attributes = "multi")
  transform x: standardize
variables {
  x : real[2]
  y : categorical(2)[3]
}
energy { return mlp(concat(x, onehot(y)), hidden = [16], act = elu) }
sampler joint {
  init x ~ uniform_data_range
  init y ~ data_frequency
  update y with gwg
  update x with langevin(step = 0.01, noise = 0.1)
  sweeps = 10
}
train {
  objective  = ssm(projections = 1, noise = 0.1)
  optimizer  = adam(lr = 1e-3)
  batch      = 50
  iterations = 5
}
evaluate { predict y from x by energy }
"""


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    folder = tmp_path_factory.mktemp("api")
    spec = folder / "toy_std.ebm"
    spec.write_text(SPEC, encoding="utf-8")
    run = ebmspec.load(spec).fit(folder / "run", device="cpu", seed=3)
    return spec, run


def test_import_is_cheap_and_the_names_load_on_use():
    torch_loaded = "print('torch' in sys.modules)"
    code = f"import sys, ebmspec; {torch_loaded}; ebmspec.load; {torch_loaded}"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.split() == ["False", "True"]
    assert {"load", "load_run", "Model", "Run", "Samples", "UserError"} <= set(dir(ebmspec))
    with pytest.raises(AttributeError):
        ebmspec.no_such_name  # noqa: B018


@pytest.mark.parametrize(
    ("given", "code", "quoted", "caret"),
    [
        ({"y": [0, 1, 5]}, "E905", "y=[0, 1, 5]", "         ^"),  # the wrong number itself
        ({"yy": 1}, "E902", "yy=1", "did you mean `y`"),
        ({"x": [1.0, 2.0, 3.0]}, "E906", "x=[1.0, 2.0, 3.0]", "`x`"),
        ({"y": np.array([0.0, 1.0, 1.0])}, "E904", "y=[0.0, 1.0, 1.0]", "`y`"),
        ({"x": torch.zeros(100)}, "E906", "x=<100 numbers of shape [100]>", "`x`"),
        ({"y": ["red", 1, 1]}, "E904", 'y=["red", 1, 1]', "`y`"),
    ],
)
def test_condition_mistakes_are_located_and_name_the_variable(given, code, quoted, caret):
    program = ebmspec.load(ROOT / "specs" / "toy_joint.ebm").program
    with pytest.raises(ebmspec.UserError) as raised:
        conditions(program, given)
    text = str(raised.value)
    assert f"error[{code}]" in text and quoted in text and caret in text, text


def test_python_values_clamp_as_the_condition_text_does():
    from ebmspec.conditions import check_conditions

    program = ebmspec.load(ROOT / "specs" / "toy_joint.ebm").program
    given = {"y": torch.tensor([1, 0, 1]), "x": np.array([0.25, -1.5], dtype=np.float32)}
    checked = conditions(program, given)
    typed = check_conditions(program, ["y=[1, 0, 1]", "x=[0.25, -1.5]"])
    for name in ("x", "y"):
        assert torch.equal(checked[name].value, typed[name].value)
    assert torch.equal(conditions(program, {"x": 2})["x"].value, torch.tensor([2.0, 2.0]))


def test_a_categorical_condition_comes_back_as_the_codes_given(trained):
    _, run = trained
    samples = run.sample(6, condition={"y": [1, 0, 1]}, steps=4, seed=2)
    assert samples["y"].dtype == torch.long
    assert samples["y"].tolist() == [[1, 0, 1]] * 6
    assert samples.raw["y"].shape == (6, 3, 2)  # model space: one-hot
    assert set(samples) == {"x", "y"} and len(samples) == 6
    assert samples.numpy()["x"].shape == (6, 2)
    free = run.sample(6, steps=4, seed=2)["y"]
    assert free.dtype == torch.long and ((free == 0) | (free == 1)).all()


def test_a_standardized_real_comes_back_in_data_space(trained):
    from ebmspec.runtime.data import load_dataset

    _, run = trained
    # x = 0 in model space is the training data's mean in data space (standardize: (x - m) / s).
    samples = run.sample(5, condition={"x": 0.0}, steps=3)
    assert torch.equal(samples.raw["x"], torch.zeros(5, 2))
    data = load_dataset(run.program, seed=3).train["x"].float()
    assert torch.allclose(samples["x"], data.mean(0).expand(5, 2), atol=1e-5)
    # and a free x: data space = model space * the data's std + its mean
    free = run.sample(5, steps=3, seed=1)
    expected = free.raw["x"] * data.std(0, correction=0) + data.mean(0)
    assert torch.allclose(free["x"], expected, atol=1e-4)
    assert not torch.allclose(free["x"], free.raw["x"])


def test_the_run_folder_of_fit_is_one_the_cli_samples_and_evaluates(trained, cli):
    _, run = trained
    for name in ("run.json", "spec.ebm", "checkpoint.safetensors", "energy.safetensors"):
        assert (run.path / name).is_file(), name
    assert (run.path / "metrics.jsonl").read_text(encoding="utf-8").strip()
    info = json.loads((run.path / "run.json").read_text(encoding="utf-8"))
    assert info["settings"] == ["train.seed=3"]
    status, out, err = cli("sample", str(run.path), "-n", "4", "--steps", "3", "--json")
    assert status == 0, err
    assert json.loads(out)["chains"] == 4
    status, out, err = cli("eval", str(run.path), "--limit", "40", "--json", "--no-images")
    assert status == 0, err
    by_cli = json.loads(out)
    by_python = ebmspec.load_run(run.path).evaluate(limit=40)
    assert by_python["accuracy_energy"] == by_cli["accuracy_energy"]
    assert by_python["examples"] == by_cli["examples"] == 40
    assert set(by_python) == set(by_cli)


def test_fit_marks_runs_latest_only_under_runs_and_refuses_a_used_folder(
    trained, tmp_path, monkeypatch
):
    spec, run = trained
    with pytest.raises(ebmspec.UserError, match="E920"):
        ebmspec.load(spec).fit(run.path)
    monkeypatch.chdir(tmp_path)
    assert not (tmp_path / "runs").exists()
    model = ebmspec.load(spec, set={"train.iterations": 2})
    fitted = model.fit("runs/tiny", device="cpu")
    assert fitted.iteration == 2
    assert (tmp_path / "runs" / "latest").resolve() == (tmp_path / "runs" / "tiny").resolve()
    assert ebmspec.load_run().path.resolve() == fitted.path.resolve()  # runs/latest


def test_settings_and_samplers_as_python_values(trained):
    spec, run = trained
    model = ebmspec.load(spec, set={"train.iterations": 7, "train.optimizer.lr": 0.01})
    assert model.settings == ["train.iterations=7", "train.optimizer.lr=0.01"]
    assert dict(model.program.train.settings)["iterations"] == 7
    with pytest.raises(ebmspec.UserError, match="E801"):
        ebmspec.load(spec, set={"train.iteratons": 7})
    with pytest.raises(ebmspec.UserError, match="E913"):
        run.sample(2, sampler="jiont")
    with pytest.raises(ebmspec.UserError, match="E922"):
        ebmspec.load_run(spec)


def test_reprs_are_one_short_line(trained):
    spec, run = trained
    program = ebmspec.load(ROOT / "specs" / "dsprites_joint.ebm").program
    assert repr(program) == (
        "Program(dsprites_joint: x real[1, 32, 32] in [-14, 14], x_pos categorical(16), "
        "y_pos categorical(16))"
    )
    assert program == ebmspec.load(ROOT / "specs" / "dsprites_joint.ebm").program
    model = ebmspec.load(spec)
    assert repr(model) == "Model(toy_std: x real[2], y categorical(2)[3])"
    assert repr(run) == f"Run(toy_std at {run.path}: x real[2], y categorical(2)[3]; iteration 5)"
    samples = run.sample(16, condition={"y": [0, 1, 1]}, steps=5)
    assert repr(samples) == (
        "Samples(16 chains: x real[2], y categorical(2)[3] clamped; sampler joint, 5 sweeps)"
    )
    for shown in (model, run, samples):
        page = shown._repr_html_()
        assert page.startswith("<table>") and page.count("<tr>") >= 3 and len(page) < 2000
    assert f"{model.parameters:,}" in model._repr_html_()
    assert model.parameters == run.parameters == 2 * 16 + 16 + 6 * 16 + 16 + 1
