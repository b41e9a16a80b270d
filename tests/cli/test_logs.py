"""The standard logs of a training run (issue 29, item 2): TensorBoard event files read back with
TensorBoard's own reader and `metrics.csv` against `metrics.jsonl`; `ebmspec runs` against the
run folders' own files; the sample grid of a model with an image variable."""

from __future__ import annotations

import csv
import json

import pytest
from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

from tests.conftest import ROOT

# A small joint model of the toy data, as fast as a run with every kind of log entry gets:
# windows with acceptance rates of two blocks, an evaluation at the end, a smoke profile.
SMALL = """
model small "labels from points"
data toy(attributes = "multi")
variables {
  x : real[2]
  y : categorical(2)[3]
}
energy { return mlp(concat(x, onehot(y)), hidden = [16]) }
sampler joint {
  update y with gwg
  update x with langevin(step = 0.01, noise = 0.1)
  sweeps = 5
}
train { objective = pcd(steps = 5, buffer = 500); batch = 100; iterations = 40 }
evaluate { predict y from x by energy, samples(chains = 4, steps = 5) }
profile smoke { train.iterations = 20 }
"""


def _strict(text: str):
    def refuse(constant):
        raise ValueError(f"non-standard JSON constant {constant}")

    return json.loads(text, parse_constant=refuse)


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    """Two runs of SMALL in `runs/` (the second one `latest`), trained in-process."""
    import os

    from ebmspec.cli import main

    where = tmp_path_factory.mktemp("logs")
    spec = where / "small.ebm"
    spec.write_text(SMALL)
    before = os.getcwd()
    os.chdir(where)
    try:
        for name, extra in (("toy", ()), ("toy-10", ("--set", "train.iterations=10"))):
            try:
                main(["train", str(spec), "--profile", "smoke", "--device", "cpu", *extra,
                      "-o", f"runs/{name}"])  # fmt: skip
            except SystemExit as done:
                assert done.code in (0, None)
    finally:
        os.chdir(before)
    return where


def _entries(run) -> list[dict]:
    return [_strict(line) for line in (run / "metrics.jsonl").read_text().splitlines()]


def test_tensorboard_holds_the_logged_windows_and_evaluations(trained):
    run = trained / "runs" / "toy"
    board = EventAccumulator(str(run / "tensorboard"), size_guidance={"scalars": 0})
    board.Reload()
    tags = set(board.Tags()["scalars"])
    assert {"train/loss", "train/f_data", "train/f_samples", "train/lr"} <= tags
    assert {"accept/gwg(y)", "accept/langevin(x)", "eval/accuracy_energy", "eval/ece"} <= tags
    entries = _entries(run)
    windows = [e for e in entries if "loss" in e]
    evaluations = [e for e in entries if "eval" in e]
    loss = board.Scalars("train/loss")
    assert [e.step for e in loss] == [w["iteration"] for w in windows]
    assert [e.value for e in loss] == pytest.approx([w["loss"] for w in windows], rel=1e-6)
    accuracy = board.Scalars("eval/accuracy_energy")
    assert [e.step for e in accuracy] == [e["iteration"] for e in evaluations] == [20]
    assert accuracy[0].value == pytest.approx(evaluations[0]["eval"]["accuracy_energy"], 1e-6)


def test_metrics_csv_has_a_row_per_log_entry(trained):
    run = trained / "runs" / "toy"
    entries = _entries(run)
    with (run / "metrics.csv").open(newline="") as stream:
        rows = list(csv.DictReader(stream))
    assert len(rows) == len(entries) and list(rows[0])[0] == "iteration"
    assert [int(row["iteration"]) for row in rows] == [e["iteration"] for e in entries]
    last = entries[-1]["eval"]
    assert float(rows[-1]["eval/accuracy_energy"]) == last["accuracy_energy"]
    assert float(rows[0]["accept/gwg(y)"]) == entries[0]["accept"]["gwg(y)"]


def test_runs_lists_the_runs(cli, trained):
    status, out, err = cli("runs", "--json", cwd=trained)  # DIR defaults to runs
    assert status == 0, err
    listing = _strict(out)
    assert listing["directory"] == "runs"
    found = {run["name"]: run for run in listing["runs"]}
    assert sorted(found) == ["toy", "toy-10"]  # `latest` is not a second run
    for name, planned in (("toy", 20), ("toy-10", 10)):
        folder = trained / "runs" / name
        run = found[name]
        info = _strict((folder / "run.json").read_text())
        expected = (str(trained / "small.ebm"), "smoke", info["created"])
        assert (run["spec"], run["profile"], run["created"]) == expected
        assert (run["iteration"], run["iterations"], run["complete"]) == (planned, planned, True)
        last = [e["eval"] for e in _entries(folder) if "eval" in e][-1]
        assert run["last_eval"]["iteration"] == planned
        assert run["last_eval"]["accuracy_energy"] == last["accuracy_energy"]
        assert run["best"] == _strict((folder / "best.json").read_text())
    assert (found["toy"]["latest"], found["toy-10"]["latest"]) == (False, True)

    status, out, err = cli("runs", str(trained / "runs"))
    assert status == 0, err
    assert "toy-10 (latest)" in out and "small.ebm" in out and "20/20" in out
    assert "acc energy" in out


def test_runs_on_an_empty_missing_or_file_argument(cli, tmp_path):
    (tmp_path / "empty").mkdir()
    status, out, _ = cli("runs", str(tmp_path / "empty"))
    assert status == 0 and "no runs in" in out
    status, out, _ = cli("runs", str(tmp_path / "empty"), "--json")
    assert status == 0 and _strict(out)["runs"] == []
    for missing, why in ((tmp_path / "nowhere", "does not exist"), (ROOT / "README.md", "a file")):
        status, _, err = cli("runs", str(missing))
        assert status == 1 and "error[E932]" in err and why in err, err


def test_a_model_with_an_image_variable_logs_sample_grids(cli, tmp_path):
    spec = str(ROOT / "specs" / "gbrbm_digits.ebm")
    run = tmp_path / "digits"
    status, _, err = cli(
        "train", spec, "-o", str(run), "--device", "cpu", "--set", "train.iterations=3",
        "--set", "train.eval_every=2", cwd=tmp_path,
    )  # fmt: skip
    assert status == 0, err
    board = EventAccumulator(str(run / "tensorboard"), size_guidance={"images": 0})
    board.Reload()
    grids = board.Images("samples")
    # 64 buffer chains of 8 x 8 pixels, enlarged 4x: 8 x 8 tiles of 32 + 1 pixel of padding
    assert [(g.step, g.width, g.height) for g in grids] == [(2, 265, 265), (3, 265, 265)]
