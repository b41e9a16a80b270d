"""The training log's three files: `metrics.jsonl`, TensorBoard event files read back with
TensorBoard's own reader, and `metrics.csv` read back with the `csv` module; a resume to an
earlier iteration leaves every step once in all three."""

from __future__ import annotations

import csv
import json
import math

import pytest
import torch
from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

from ebmspec.runtime.training.distributed import Ranks
from ebmspec.runtime.training.metrics_board import FOLDER, scalars, tile
from ebmspec.runtime.training.metrics_log import MetricsLog


def _window(iteration: int, shift: float = 0.0) -> dict:
    return {
        "iteration": iteration,
        "train_seconds": 0.1 * iteration,
        "loss": 1.0 / iteration + shift,
        "f_data": -0.5 * iteration,
        "f_samples": 0.25 * iteration,
        "lr": 1e-4,
        "accept": {"gwg(y)": 0.9, "langevin(x)": 0.5 + 0.01 * iteration},
    }


def _evaluation(iteration: int, accuracy: float) -> dict:
    result = {
        "iteration": iteration,
        "train_seconds": 1.0,
        "targets": ["y"],
        "examples": 500,
        "accuracy_energy": accuracy,
        "oce": math.nan,  # written as null, left out of TensorBoard
        "ece_from": "energy",
        "per_attribute": {"accuracy_energy": {"y[0]": accuracy, "y[1]": 1 - accuracy}},
        "reliability": [[1.0, 0.5, 0.5]],
    }
    return {"iteration": iteration, "eval": result}


def _board(run) -> EventAccumulator:
    accumulator = EventAccumulator(str(run / FOLDER), size_guidance={"scalars": 0, "images": 0})
    accumulator.Reload()
    return accumulator


def _steps(accumulator: EventAccumulator, tag: str) -> list[tuple[int, float]]:
    return [(event.step, event.value) for event in accumulator.Scalars(tag)]


def test_every_entry_reaches_tensorboard_and_the_csv(tmp_path):
    log = MetricsLog(tmp_path, Ranks())
    log.start()
    for iteration in range(1, 6):
        log.write(_window(iteration))
    log.write(_evaluation(5, 0.75))
    log.write({"iteration": 5, "rollback": 1, "loss": 3e9})
    log.close()

    board = _board(tmp_path)
    tags = set(board.Tags()["scalars"])
    assert {"train/loss", "train/f_data", "train/f_samples", "train/lr"} <= tags
    assert {"accept/gwg(y)", "accept/langevin(x)", "train/rollbacks"} <= tags
    assert {"eval/accuracy_energy", "eval/per_attribute/accuracy_energy/y[1]"} <= tags
    assert not tags & {"eval/oce", "eval/examples", "eval/iteration", "train/iteration"}
    # float32 in the event file
    loss = _steps(board, "train/loss")
    assert [step for step, _ in loss] == [1, 2, 3, 4, 5]  # not the rollback's diverged loss
    assert [value for _, value in loss] == pytest.approx([1.0 / i for i in range(1, 6)], 1e-6)
    assert _steps(board, "eval/accuracy_energy") == [(5, pytest.approx(0.75))]
    assert _steps(board, "accept/langevin(x)")[-1] == (5, pytest.approx(0.55))

    lines = (tmp_path / "metrics.jsonl").read_text().splitlines()
    with (tmp_path / "metrics.csv").open(newline="") as stream:
        rows = list(csv.DictReader(stream))
    assert len(rows) == len(lines) == 7
    header = list(rows[0])
    assert header[:2] == ["iteration", "train_seconds"]
    assert {"accept/gwg(y)", "eval/accuracy_energy", "eval/ece_from", "rollback"} <= set(header)
    assert not any(name.startswith(("eval/reliability", "eval/targets")) for name in header)
    assert [float(row["loss"]) for row in rows[:5]] == [json.loads(x)["loss"] for x in lines[:5]]
    assert rows[5]["eval/accuracy_energy"] == "0.75" and rows[5]["eval/oce"] == ""
    assert rows[5]["eval/per_attribute/accuracy_energy/y[1]"] == "0.25"
    assert rows[5]["loss"] == "" and rows[6]["rollback"] == "1"


def test_a_resume_drops_the_steps_past_the_checkpoint(tmp_path):
    """Killed at iteration 8 after a checkpoint at 5: the resumed run writes 6.. again (other
    values: the shift) and every reader sees each step once, with the new values."""
    first = MetricsLog(tmp_path, Ranks())
    first.start()
    for iteration in range(1, 9):
        first.write(_window(iteration))
    first.write(_evaluation(8, 0.5))
    first.flush()  # no close: the process was killed

    resumed = MetricsLog(tmp_path, Ranks())
    resumed.truncate(5)
    for iteration in range(6, 11):
        resumed.write(_window(iteration, shift=100.0))
    resumed.write(_evaluation(10, 0.9))
    resumed.close()

    assert len(list((tmp_path / FOLDER).iterdir())) == 1  # the kept events moved to the new file
    board = _board(tmp_path)
    loss = _steps(board, "train/loss")
    assert [step for step, _ in loss] == list(range(1, 11))
    expected = [1.0 / i + (100.0 if i > 5 else 0.0) for i in range(1, 11)]
    assert [value for _, value in loss] == pytest.approx(expected, 1e-6)
    assert _steps(board, "eval/accuracy_energy") == [(10, pytest.approx(0.9))]
    entries = [json.loads(x) for x in (tmp_path / "metrics.jsonl").read_text().splitlines()]
    assert [e["iteration"] for e in entries] == [*range(1, 11), 10]
    with (tmp_path / "metrics.csv").open(newline="") as stream:
        assert [int(row["iteration"]) for row in csv.DictReader(stream)] == [*range(1, 11), 10]


def test_only_rank_zero_writes(tmp_path):
    log = MetricsLog(tmp_path, Ranks(rank=1, world=2, shares=(1,), total=2))
    log.start()
    log.write(_window(1))
    log.truncate(0)
    log.close()
    assert list(tmp_path.iterdir()) == []


def test_sample_grids_are_tiled_and_logged(tmp_path):
    images = torch.rand(5, 1, 8, 8)
    grid = tile(images, columns=3)
    # 8-pixel images are enlarged 4x to 32; 3 columns, 2 rows, 1 pixel of white around each
    assert grid.shape == (1, 2 * 33 + 1, 3 * 33 + 1)
    fourth = grid[:, 34:66, 1:33]  # row 1, column 0
    assert torch.equal(fourth, images[3].repeat_interleave(4, 1).repeat_interleave(4, 2))
    assert torch.all(grid[:, :, 0] == 1) and torch.all(grid[:, 2 * 33 :, 2 * 33 :] == 1)

    log = MetricsLog(tmp_path, Ranks())
    log.start()
    log.board.image("samples", grid, 7)
    log.close()
    pictures = _board(tmp_path).Images("samples")
    assert [(p.step, p.width, p.height) for p in pictures] == [(7, 3 * 33 + 1, 2 * 33 + 1)]


def test_scalars_of_each_kind_of_entry():
    assert scalars({"iteration": 3, "rollback": 2, "loss": math.inf}) == {"train/rollbacks": 2.0}
    entry = {"iteration": 3, "eval": {"iteration": 3, "ood": {"auroc": 0.8}, "seconds": {"a": 1}}}
    assert scalars(entry) == {"eval/ood/auroc": 0.8}
