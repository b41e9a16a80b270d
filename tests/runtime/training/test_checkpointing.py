"""The trainer's checkpoint history and best weights: a rollback restores the last checkpoint, a
divergence before the next one goes one checkpoint further back; an evaluation that beats the
best so far (the worse of classification and generation accuracy) writes best.safetensors."""

from __future__ import annotations

import json
import math

import pytest
import torch
from safetensors.torch import load_file

from ebmspec.api import compile_file
from ebmspec.runs import load_run, write_run_info
from ebmspec.runtime.data import load_dataset
from ebmspec.runtime.io import checkpoint as ckpt
from ebmspec.runtime.training.checkpointing import KEEP_CHECKPOINTS
from ebmspec.runtime.training.settings import best_metric, score
from ebmspec.runtime.training.trainer import Trainer
from tests.conftest import ROOT

TOY = ROOT / "specs" / "toy_joint.ebm"


def _trainer(tmp_path, *settings: str, evaluate=None) -> Trainer:
    texts = ["train.checkpoint_every=5", "train.eval_every=1000", *settings]
    program = compile_file(TOY, "smoke", texts)
    trainer = Trainer(program, load_dataset(program), tmp_path / "run", evaluate=evaluate)
    trainer.start(resume=False)
    return trainer


def test_history_keeps_the_checkpoints_before_the_last(tmp_path):
    trainer = _trainer(tmp_path, "train.iterations=20")
    trainer.run()
    kept = [ckpt.read_meta(p)["iteration"] for p in trainer.checkpoints.history()]
    assert kept == [10, 15] and len(kept) == KEEP_CHECKPOINTS - 1
    assert ckpt.read_meta(trainer.checkpoints.path)["iteration"] == 20


def test_a_save_cut_short_leaves_the_previous_checkpoint_in_place(tmp_path, monkeypatch):
    """The previous checkpoint gets its history name before the new one is written; a crash in
    between (here: the write fails) still leaves checkpoint.safetensors to resume from. It used
    to be moved into history/ first, so a kill at that moment left no checkpoint at all."""
    trainer = _trainer(tmp_path, "train.iterations=20")
    for _ in range(5):
        trainer.step()
    trainer.checkpoints.save()

    def crash(*args, **kwargs):
        raise KeyboardInterrupt  # stands for a SIGKILL in the middle of the write

    for _ in range(3):
        trainer.step()
    monkeypatch.setattr(ckpt, "save_checkpoint", crash)
    with pytest.raises(KeyboardInterrupt):
        trainer.checkpoints.save()
    assert ckpt.read_meta(trainer.checkpoints.path)["iteration"] == 5
    assert [ckpt.read_meta(p)["iteration"] for p in trainer.checkpoints.history()] == [0, 5]


def test_a_second_divergence_before_the_next_checkpoint_rolls_back_further(tmp_path):
    trainer = _trainer(tmp_path, "train.iterations=20")
    trainer.run()
    history = trainer.checkpoints.history()
    weights = {i: ckpt.load_checkpoint(p)[0] for i, p in zip((10, 15), history, strict=True)}
    trainer.checkpoints.rollback(float("nan"))  # right after a checkpoint: back to it
    assert trainer.iteration == 20 and trainer.lr_scale == 0.5
    trainer.checkpoints.rollback(
        float("inf")
    )  # again, with no checkpoint reached since: one further back
    assert trainer.iteration == 15 and trainer.lr_scale == 0.25
    assert ckpt.read_meta(trainer.checkpoints.path)["iteration"] == 15
    for name, value in trainer.model.state_dict().items():
        assert torch.equal(value, weights[15][f"model/{name}"]), name
    trainer.checkpoints.rollback(float("nan"))
    assert trainer.iteration == 10 and trainer.rollbacks == 3
    assert trainer.checkpoints.history() == []
    # Training on reaches new checkpoints: the next divergence goes back to the last one only.
    trainer.s = trainer.s.__class__(**{**trainer.s.__dict__, "iterations": 20})
    trainer.run()
    trainer.checkpoints.rollback(float("nan"))
    assert trainer.iteration == 20


def test_best_weights_follow_the_worse_of_accuracy_and_generation(tmp_path):
    results = iter(
        [
            {"accuracy_samples": 0.9, "generation_accuracy": 0.5},  # score 0.5: best
            {"accuracy_samples": 0.99, "generation_accuracy": 0.4},  # 0.4: not better
            {"accuracy_samples": 0.8, "generation_accuracy": 0.9},  # 0.8: best
            {"accuracy_samples": 0.7, "generation_accuracy": 0.9},  # 0.7: not better
        ]
    )

    def evaluate(*args, **kwargs):
        return next(results)

    settings = ["train.checkpoint_every=5", "train.eval_every=1000"]
    settings += ["train.iterations=20", "train.eval_every=5"]
    trainer = _trainer(tmp_path, *settings[2:], evaluate=evaluate)
    write_run_info(trainer.run_dir, TOY, TOY.read_text(), "smoke", settings, "cpu")
    saved = []
    original = trainer.checkpoints.save_best

    def spy(key):
        saved.append((trainer.iteration, key))
        original(key)

    trainer.checkpoints.save_best = spy
    trainer.run()
    assert saved == [(5, "score"), (15, "score")]  # not 20
    best = json.loads((trainer.run_dir / "best.json").read_text())
    assert best["metric"] == "score" and best["iteration"] == 15 and best["value"] == 0.8
    assert trainer.best["accuracy_samples"]["iteration"] == 10
    stored = load_file(str(trainer.run_dir / "best.safetensors"))
    last = load_run(trainer.run_dir)
    chosen = load_run(trainer.run_dir, best=True)
    assert (
        "weights" not in last.meta
        and last.meta["iteration"] == 20
        and chosen.meta["iteration"] == 15
    )  # what reports name
    assert chosen.meta["best"]["value"] == 0.8 and chosen.meta["weights"] == "best"
    differ = False
    for name, value in chosen.model.state_dict().items():
        assert torch.equal(stored[name], value), name
        differ |= not torch.equal(last.model.state_dict()[name], value)
    assert differ  # the last weights are not the best ones
    assert best_metric({"accuracy_energy": 1.0}) == "accuracy_energy"
    assert score({"accuracy_energy": 0.7, "generation_accuracy": 0.6})["score"] == 0.6


def test_both_generative_terms_checkpoint_both_buffers(tmp_path):
    objective = "train.objective=jem(steps = 3, alpha = 2, generative = both, buffer = 200)"
    trainer = _trainer(tmp_path, "train.iterations=10", objective)
    trainer.run()
    tensors, _ = ckpt.load_checkpoint(trainer.checkpoints.path)
    assert {"buffer/x", "buffer/y", "kept_buffer/x", "kept_buffer/y"} <= set(tensors)
    again = _trainer(tmp_path / "again", "train.iterations=10", objective)
    again.checkpoints.restore(tensors, ckpt.read_meta(trainer.checkpoints.path))
    for prefix, chains in again.chain_sets:
        for name, value in chains.buffer.items():
            assert torch.equal(value, tensors[f"{prefix}/{name}"])
    # The joint chains move their labels, the other set keeps them.
    share = trainer.shares[0]
    assert not share.negatives.kept and share.kept_negatives.kept == {"y"}


def test_cosine_decay_follows_warmup_down_to_zero(tmp_path):
    trainer = _trainer(
        tmp_path,
        "train.iterations=20",
        "train.optimizer.warmup=4",
        "train.optimizer.decay=cosine",
        "train.optimizer.lr=0.001",
    )
    trainer.run()
    rows = [json.loads(line) for line in (tmp_path / "run" / "metrics.jsonl").open()]
    lrs = {row["iteration"]: row["lr"] for row in rows if "lr" in row}
    # iteration i (1-based in the log) used the rate of step i - 1: warmup 1/4 .. 4/4, then
    # 0.5 (1 + cos(pi (i - 1 - 4) / 16)) down to the last step's cos(15 pi / 16).
    expected = {i: 1e-3 * min(1.0, i / 4) for i in range(1, 5)}
    expected |= {i: 1e-3 * 0.5 * (1 + math.cos(math.pi * (i - 5) / 16)) for i in range(5, 21)}
    assert lrs.keys() == expected.keys()
    for i, value in expected.items():
        assert abs(lrs[i] - value) < 1e-9, (i, lrs[i], value)
    assert lrs[20] < 0.01 * 1e-3 < lrs[5]
