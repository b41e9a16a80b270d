"""Data-parallel training with torchrun + gloo on the CPU (issue 13, acceptance 1).

Two processes, each with half of every batch, half of the replay buffer and its own chain
generator, against one process that runs both halves with the same streams
(`Ranks.all_shares(2)`); and a two-process job killed with SIGKILL and resumed, against the same
job run without interruption. The launch goes through `ebmspec train --nproc 2`, i.e.
torchrun. The two runs that start torchrun are `slow` (a minute or two on two cores);
`.ci/run` runs them in their own step.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import torch

from ebmspec.api import compile_file
from ebmspec.runs import load_run, write_run_info
from ebmspec.runtime.data import encoding as batches
from ebmspec.runtime.data import load_dataset
from ebmspec.runtime.evaluation import evaluate as evaluation
from ebmspec.runtime.io import checkpoint as ckpt
from ebmspec.runtime.model.energy import variable_table
from ebmspec.runtime.training import distributed
from ebmspec.runtime.training.trainer import EVAL_EXAMPLES, Settings, Trainer
from tests.cli.test_train import _kill_after_checkpoint
from tests.conftest import ROOT

TOY = ROOT / "specs" / "toy_joint.ebm"
SETTINGS = [
    "train.checkpoint_every=10",
    "train.eval_every=100000",
    "train.objective.buffer=500",
    "train.optimizer.warmup=5",
]
# Parameters of the two-process run and of one process running both shares agree to this
# (relative to each tensor's scale). They cannot agree bit for bit: DDP averages two half-batch
# gradients, one process differentiates the mean over the whole batch, and the CNN/MLP forward
# of 50 rows rounds differently from that of 100; Adam then carries those 1e-7-relative
# differences along. Measured: 4.7e-6 after 10 iterations, 4.3e-6 after 60.
RELATIVE = 1e-4


def _train(cwd: Path, *args: str, wait: bool = True, nproc: int = 2):
    command = [sys.executable, "-m", "ebmspec", "train", str(TOY), "--profile", "smoke"]
    command += [arg for s in SETTINGS for arg in ("--set", s)]
    command += ["--device", "cpu", "--nproc", str(nproc), *args]
    env = dict(os.environ, OMP_NUM_THREADS="1", COLUMNS="120")
    if not wait:  # its own session: SIGKILL reaches torchrun and both workers
        return subprocess.Popen(
            command, cwd=cwd, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
            start_new_session=True,
        )  # fmt: skip
    return subprocess.run(command, cwd=cwd, env=env, capture_output=True, text=True, timeout=600)


def _model(run: Path) -> dict:
    tensors, _ = ckpt.load_checkpoint(run / "checkpoint.safetensors")
    return {k: v for k, v in tensors.items() if k.startswith("model/")}


@pytest.mark.slow
def test_two_processes_follow_one_process_running_both_shares(tmp_path):
    iterations = 10
    done = _train(tmp_path, "--set", f"train.iterations={iterations}", "--out", "runs/two")
    assert done.returncode == 0, done.stdout + done.stderr
    tensors, meta = ckpt.load_checkpoint(tmp_path / "runs" / "two" / "checkpoint.safetensors")
    assert meta["iteration"] == iterations and meta["shares"] == 2
    # Every rank's buffer share and chain generator is in the one checkpoint rank 0 wrote.
    for share in (0, 1):
        assert tensors[f"share{share}/buffer/x"].shape[0] == 250
        assert f"share{share}/rng/chain" in tensors
    assert not torch.equal(tensors["share0/buffer/x"], tensors["share1/buffer/x"])

    program = compile_file(TOY, "smoke", [*SETTINGS, f"train.iterations={iterations}"])
    one = Trainer(
        program, load_dataset(program), tmp_path / "one", ranks=distributed.Ranks.all_shares(2)
    )
    one.start(resume=False)
    one.run()
    expected = _model(tmp_path / "one")
    got = {k: v for k, v in tensors.items() if k.startswith("model/")}
    assert expected.keys() == got.keys()
    for key in expected:
        scale = expected[key].abs().max().clamp_min(1e-3)
        error = float((expected[key] - got[key]).abs().max() / scale)
        assert error < RELATIVE, (key, error)
    # And the run really moved: the parameters differ from their initial values.
    start = ckpt.load_checkpoint(next((tmp_path / "one" / "history").glob("*")))[0]
    assert any(not torch.equal(start[k], expected[k]) for k in expected)

    # The closing evaluation was sharded (each process half of the examples, in whole sampling
    # runs) and reduced on rank 0: it equals one process evaluating the same EMA weights.
    lines = (tmp_path / "runs" / "two" / "metrics.jsonl").read_text().splitlines()
    sharded = [json.loads(line)["eval"] for line in lines if '"eval"' in line][-1]
    run = load_run(tmp_path / "runs" / "two")
    seed = Settings.of(run.program).seed
    dataset = load_dataset(run.program)
    split = batches.test_split(variable_table(run.program), dataset, run.pipelines, seed)
    alone = evaluation.evaluate(
        run.program, run.model, split, run.stats, "cpu", seed=seed, limit=EVAL_EXAMPLES
    )
    for key in ("accuracy_energy", "accuracy_samples", "ece", "examples"):
        assert sharded[key] == pytest.approx(alone[key], abs=1e-9), key


@pytest.mark.slow
def test_sigkill_and_resume_on_two_processes_match_an_uninterrupted_run(tmp_path):
    length = ["--set", "train.iterations=120"]
    whole = _train(tmp_path, *length, "--out", "runs/whole")
    assert whole.returncode == 0, whole.stdout + whole.stderr

    process = _train(tmp_path, *length, "--out", "runs/killed", wait=False)
    killed = tmp_path / "runs" / "killed"
    stopped_at = _kill_after_checkpoint(process, killed, 20, os.killpg)  # torchrun + workers
    assert 20 <= stopped_at < 120, stopped_at

    resumed = _train(tmp_path, "--resume", "--out", "runs/killed")
    assert resumed.returncode == 0, resumed.stdout + resumed.stderr
    expected, _ = ckpt.load_checkpoint(tmp_path / "runs" / "whole" / "checkpoint.safetensors")
    got, meta = ckpt.load_checkpoint(killed / "checkpoint.safetensors")
    assert meta["iteration"] == 120 and expected.keys() == got.keys()
    differing = [k for k in expected if not torch.equal(expected[k], got[k])]
    assert differing == [], differing[:5]


def test_a_two_process_checkpoint_refuses_one_process(tmp_path):
    # A two-share checkpoint, written by one process running both shares (as the job would).
    program = compile_file(TOY, "smoke", [*SETTINGS, "train.iterations=10"])
    two = Trainer(
        program, load_dataset(program), tmp_path / "runs" / "two",
        ranks=distributed.Ranks.all_shares(2),
    )  # fmt: skip
    write_run_info(two.run_dir, TOY, TOY.read_text(), "smoke", SETTINGS, "cpu")
    two.start(resume=False)
    command = [sys.executable, "-m", "ebmspec", "train", str(TOY), "--device", "cpu"]
    command += ["--resume", "--out", "runs/two", "--set", "train.iterations=20"]
    one = subprocess.run(command, cwd=tmp_path, capture_output=True, text=True, timeout=300)
    assert one.returncode == 1, one.stderr
    assert "error[E930]" in one.stderr and "2 process(es)" in one.stderr
    assert "--nproc 2" in one.stderr and "Traceback" not in one.stderr
    # and `--nproc 3` is refused before any process starts
    three = _train(tmp_path, "--resume", "--out", "runs/two", nproc=3)
    assert three.returncode == 1 and "this one has 3" in three.stderr, three.stderr
    # and a new run into its folder is E920, also found before torchrun starts
    again = _train(tmp_path, "--out", "runs/two")
    assert again.returncode == 1 and "error[E920]" in again.stderr, again.stderr
    assert "Traceback" not in again.stderr


@pytest.mark.parametrize(
    ("setting", "message"),
    [
        ("train.batch=99", "does not split into 2 equal per-process batches"),
        ("train.objective=ssm", "ssm runs in one process only"),
    ],
)
def test_runs_that_do_not_split_are_located_errors(tmp_path, setting, message):
    refused = _train(tmp_path, "--set", setting, "--set", "train.iterations=5")
    assert refused.returncode != 0
    assert "error[E930]" in refused.stderr + refused.stdout and message in refused.stderr
    assert "Traceback" not in refused.stderr


@pytest.mark.slow
def test_ctrl_c_stops_every_process_with_a_checkpoint(tmp_path):
    """Ctrl-C reaches the launcher, torchrun and both workers (one process group); torchrun
    passes it on again. The workers agree to stop at the same iteration, rank 0 writes the
    checkpoint there, and the launcher exits quietly with 128 + SIGINT."""
    endless = ["--set", "train.iterations=1000000", "--set", "train.checkpoint_every=1000000"]
    process = _train(tmp_path, *endless, "--out", "runs/stopped", wait=False)
    run = tmp_path / "runs" / "stopped"
    deadline = time.time() + 300
    while (
        not (run / "metrics.jsonl").exists()
        or "iteration" not in (run / "metrics.jsonl").read_text()
    ):
        assert process.poll() is None and time.time() < deadline, process.stdout.read().decode()
        time.sleep(0.1)
    os.killpg(process.pid, signal.SIGINT)
    output = process.communicate(timeout=120)[0].decode()
    assert process.returncode == 128 + signal.SIGINT, output
    assert "Traceback" not in output and "stopped (resume with --resume)" in output, output
    logged = [json.loads(line)["iteration"] for line in (run / "metrics.jsonl").open()]
    assert json.loads((run / "checkpoint.json").read_text())["iteration"] >= max(logged) > 0
