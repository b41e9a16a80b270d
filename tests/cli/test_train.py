"""`ebmspec train` end to end on the toy spec's smoke profile: exact resume after SIGKILL,
checkpoints that are never half-written, rollback on divergence, run folders for sample/eval."""

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
from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

from ebmspec.runtime.io import checkpoint as ckpt
from tests.conftest import ROOT

TOY = ROOT / "specs" / "toy_joint.ebm"
# The smoke profile for 60 iterations, a checkpoint every 10, no evaluation until the end.
RESUMABLE = [
    *("--profile", "smoke", "--set", "train.iterations=60"),
    *("--set", "train.checkpoint_every=10", "--set", "train.eval_every=100000"),
]
# Small and fast, but every part of the loop runs: PCD buffer with reinit, GWG + Langevin,
# warmup, EMA, periodic checkpoints, the closing evaluation (on short chains: these tests check
# the loop and its files, tests/runtime/evaluation/ the numbers).
SMALL = [
    *RESUMABLE,
    *("--set", "train.objective.buffer=500", "--set", "train.optimizer.warmup=20"),
    *("--set", "evaluate.samples.steps=20", "--set", "evaluate.accuracy.steps=20"),
]
# Sliced score matching (no chains: the data and projection streams resume) and VERA (its
# generator, sigma, eta and their optimizers resume too).
SSM = ROOT / "specs" / "toy_ssm.ebm"
VERA = ROOT / "specs" / "toy_vera.ebm"


def _train(cwd: Path, *args: str, wait: bool = True, spec: Path = TOY):
    command = [sys.executable, "-m", "ebmspec", "train", str(spec), *args]
    env = dict(os.environ, OMP_NUM_THREADS="1", COLUMNS="120")
    if not wait:
        return subprocess.Popen(
            command, cwd=cwd, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE
        )
    return subprocess.run(command, cwd=cwd, env=env, capture_output=True, text=True, timeout=600)


def _checkpoint_iteration(run: Path) -> int:
    try:
        return json.loads((run / "checkpoint.json").read_text())["iteration"]
    except (OSError, ValueError, KeyError):
        return -1


def _kill_after_checkpoint(process, run: Path, iteration: int, kill) -> int:
    """SIGKILL (by `kill(pid, signal)`: os.kill, or os.killpg for a process group) once `run`
    has a checkpoint at `iteration` or later; the iteration of the checkpoint left behind."""
    deadline = time.time() + 300
    while _checkpoint_iteration(run) < iteration and time.time() < deadline:
        assert process.poll() is None, (process.stderr or process.stdout).read().decode()
        time.sleep(0.02)
    kill(process.pid, signal.SIGKILL)
    process.wait()
    return _checkpoint_iteration(run)


def _tensors(run: Path) -> dict:
    tensors, meta = ckpt.load_checkpoint(run / "checkpoint.safetensors")
    assert meta["iteration"] == 60
    return tensors


# Exact maximum likelihood of a NICE flow on the toy's points (no chains, no labels).
FLOW = """\
model toy_flow

data toy()

variables {
  x : real[2]
}

energy {
  return nice(x, layers = 4, hidden = [32])
}

train {
  objective = nll
  optimizer = adam(lr = 1e-3)
  batch = 100
  iterations = 60
  checkpoint_every = 10
  eval_every = 100000
}
"""


# A binary RBM on a csv with one persistent latent chain per training example (issue 27): the
# chains' states are part of the checkpoint.
RBM = """\
model rbm

data csv(file = "bits.csv", test = 0.1)

variables {
  v : binary[6]
  h : binary[3] latent
}

energy { return bilinear(v, h) + linear(v) + linear(h) }

sampler gibbs {
  update h with block_gibbs
  update v with block_gibbs
}

train {
  objective = pcd(steps = 1, buffer = 50, reinit = 0, latents = persistent)
  optimizer = adam(lr = 1e-2)
  batch = 50
  iterations = 60
  checkpoint_every = 10
  eval_every = 100000
}
"""


# A linear-chain CRF trained by `cll` with one persistent chain per training sequence (issue 28).
CRF = """\
model crf

data csv(file = "seq.csv", columns = ["x = x0..x5", "y = y0..y5"], test = 0.1)

variables {
  x : categorical(2)[6]
  y : categorical(3)[6]
}

params { E[2, 3] = 0.0; T[3, 3] = normal(std = 0.1) }

energy { return sum(E[x, y]) + sum(T[y[:-1], y[1:]]) }

sampler chain { update y with gibbs }

train {
  objective = cll(given = x, steps = 1)
  optimizer = adam(lr = 1e-2)
  batch = 50
  iterations = 60
  checkpoint_every = 10
  eval_every = 100000
}
"""


# PCD in the default run; the other objectives' own state (about 20 s each) in CI's crash-safety
# step, beside tests/crash/test_kills.py.
@pytest.mark.parametrize(
    ("spec", "small"),
    [
        (TOY, SMALL),
        pytest.param(SSM, RESUMABLE, marks=pytest.mark.slow),
        pytest.param(VERA, RESUMABLE, marks=pytest.mark.slow),
        pytest.param("flow", [], marks=pytest.mark.slow),
        pytest.param("rbm", [], marks=pytest.mark.slow),
        pytest.param("crf", [], marks=pytest.mark.slow),
    ],
    ids=["pcd", "ssm", "vera", "nll", "rbm-persistent-latents", "crf-persistent-cll"],
)
def test_resume_after_sigkill_matches_an_uninterrupted_run(tmp_path, spec, small):
    if spec == "flow":
        spec = tmp_path / "toy_flow.ebm"
        spec.write_text(FLOW)
    elif spec == "rbm":
        rows = [",".join(str((i * 7 + j * i) % 3 % 2) for j in range(6)) for i in range(400)]
        (tmp_path / "bits.csv").write_text("v0,v1,v2,v3,v4,v5\n" + "\n".join(rows) + "\n")
        spec = tmp_path / "rbm.ebm"
        spec.write_text(RBM)
    elif spec == "crf":
        rows = [
            ",".join([str((i + j) % 2) for j in range(6)] + [str((i + j) % 3) for j in range(6)])
            for i in range(400)
        ]
        header = ",".join([f"x{j}" for j in range(6)] + [f"y{j}" for j in range(6)])
        (tmp_path / "seq.csv").write_text(header + "\n" + "\n".join(rows) + "\n")
        spec = tmp_path / "crf.ebm"
        spec.write_text(CRF)
    whole = _train(tmp_path, *small, "--out", "runs/whole", "--device", "cpu", spec=spec)
    assert whole.returncode == 0, whole.stderr

    process = _train(
        tmp_path, *small, "--out", "runs/killed", "--device", "cpu", wait=False, spec=spec
    )
    killed = tmp_path / "runs" / "killed"
    stopped_at = _kill_after_checkpoint(process, killed, 20, os.kill)
    assert 20 <= stopped_at < 60, stopped_at

    resumed = _train(tmp_path, "--resume", "--out", "runs/killed", "--device", "cpu", spec=spec)
    assert resumed.returncode == 0, resumed.stderr
    expected, got = _tensors(tmp_path / "runs" / "whole"), _tensors(killed)
    assert expected.keys() == got.keys()
    if spec.name == "rbm.ebm":
        assert expected["pcd/latent/h"].shape == (360, 3)  # one chain per training row
    if spec.name == "crf.ebm":
        assert expected["cll/chains/y"].shape == (360, 6, 3)  # one chain per training row
    differing = [k for k in expected if not torch.equal(expected[k], got[k])]
    assert differing == [], differing[:5]
    # The log was rewound to the checkpoint and continued: one entry per iteration, no repeats.
    iterations = [
        json.loads(line)["iteration"]
        for line in (killed / "metrics.jsonl").read_text().splitlines()
        if "loss" in json.loads(line)
    ]
    assert iterations == sorted(set(iterations)) and iterations[-1] == 60
    # So do the TensorBoard events (the killed process's past the checkpoint dropped), read by
    # TensorBoard's own reader.
    board = EventAccumulator(str(killed / "tensorboard"), size_guidance={"scalars": 0})
    board.Reload()
    assert [event.step for event in board.Scalars("train/loss")] == iterations


def test_sigterm_stops_with_a_checkpoint_of_the_last_iteration(tmp_path):
    """`kill` / `timeout` / a scheduler's SIGTERM: nothing since the last checkpoint is lost."""
    settings = [
        *SMALL,
        "--set",
        "train.iterations=1000000",
        "--set",
        "train.checkpoint_every=100000",
    ]
    process = _train(tmp_path, *settings, "--out", "runs/term", "--device", "cpu", wait=False)
    metrics = tmp_path / "runs" / "term" / "metrics.jsonl"
    deadline = time.time() + 300
    # Windows end at iterations 1, 10, 50, 100: wait for the fourth.
    while not (metrics.is_file() and metrics.read_text().count("\n") >= 4):
        assert process.poll() is None and time.time() < deadline, process.stderr.read().decode()
        time.sleep(0.02)
    process.send_signal(signal.SIGTERM)
    out, err = process.communicate(timeout=300)
    assert process.returncode == 0, err.decode()
    assert "SIGTERM: stopping after this iteration" in (out + err).decode()
    assert "stopped (resume with --resume)" in (out + err).decode()
    logged = [json.loads(line)["iteration"] for line in metrics.read_text().splitlines()]
    # No periodic checkpoint was due (every 100,000): this one was written on the signal.
    assert _checkpoint_iteration(tmp_path / "runs" / "term") >= max(logged) >= 100


def test_checkpoints_survive_kills_at_random_moments(tmp_path):
    """SIGKILL a run over and over: every time, the checkpoint on disk loads."""
    args = [*SMALL, "--out", "runs/r", "--device", "cpu"]
    run = tmp_path / "runs" / "r"
    delays = [0.5, 0.9, 1.3, 0.7]
    for attempt, delay in enumerate(delays):
        extra = ["--resume"] if attempt else []
        process = _train(tmp_path, *args, *extra, wait=False)
        # wait for the process to get going (the first checkpoint), then kill it blindly
        deadline = time.time() + 120
        while not (run / "checkpoint.json").exists() and time.time() < deadline:
            time.sleep(0.01)
        time.sleep(delay)
        os.kill(process.pid, signal.SIGKILL)
        process.wait()
        tensors, meta = ckpt.load_checkpoint(run / "checkpoint.safetensors")
        assert "model/blocks.mlp_0.layers.0.weight" in tensors or any(
            k.startswith("model/") for k in tensors
        )
        assert 0 <= meta["iteration"] <= 60
    leftovers = [p.name for p in run.iterdir() if p.name.endswith(".tmp")]
    # a kill during a write may leave a temp file, but never a broken checkpoint
    assert all(name.startswith(".") for name in leftovers)


def test_failed_write_keeps_the_previous_checkpoint(tmp_path, monkeypatch):
    path = tmp_path / "c.safetensors"
    ckpt.save_checkpoint(path, {"w": torch.ones(3)}, {"iteration": 1})

    def explode(state, temp, metadata):
        Path(temp).write_bytes(b"half")
        raise OSError("disk full")

    monkeypatch.setattr(ckpt, "save_file", explode)
    with pytest.raises(OSError):
        ckpt.save_checkpoint(path, {"w": torch.zeros(3)}, {"iteration": 2})
    tensors, meta = ckpt.load_checkpoint(path)
    assert meta["iteration"] == 1 and torch.equal(tensors["w"], torch.ones(3))
    assert sorted(p.name for p in tmp_path.iterdir()) == ["c.safetensors"]


def test_truncated_checkpoint_is_a_clear_error(tmp_path):
    path = tmp_path / "c.safetensors"
    ckpt.save_checkpoint(path, {"w": torch.ones(1000)}, {"iteration": 1})
    path.write_bytes(path.read_bytes()[:-100])
    with pytest.raises(ckpt.CheckpointError, match="not a readable checkpoint"):
        ckpt.load_checkpoint(path)


def test_absurd_learning_rate_rolls_back_and_finishes(tmp_path):
    result = _train(
        tmp_path,
        *SMALL,
        "--set",
        "train.optimizer.lr=1",
        "--set",
        "train.optimizer.warmup=0",
        "--out",
        "runs/div",
        "--device",
        "cpu",
    )
    assert result.returncode == 0, result.stderr
    assert "rolled back to the checkpoint" in result.stderr
    assert "Traceback" not in result.stderr
    run = tmp_path / "runs" / "div"
    rollbacks = [
        json.loads(line)
        for line in (run / "metrics.jsonl").read_text().splitlines()
        if "rollback" in json.loads(line)
    ]
    assert rollbacks and all(abs(r["loss"]) > 1e8 or r["loss"] != r["loss"] for r in rollbacks)
    tensors = _tensors(run)
    assert all(torch.isfinite(t.float()).all() for k, t in tensors.items() if k.startswith("model"))
    meta = json.loads((run / "checkpoint.json").read_text())
    assert meta["rollbacks"] == len(rollbacks) and meta["lr_scale"] == pytest.approx(
        0.5 ** len(rollbacks)
    )


def test_a_run_that_never_stops_diverging_ends_with_a_user_error(tmp_path):
    result = _train(
        tmp_path,
        *SMALL,
        "--set",
        "train.optimizer.lr=1e30",
        "--set",
        "train.optimizer.warmup=0",
        "--out",
        "runs/div",
        "--device",
        "cpu",
    )
    assert result.returncode == 1, result.stderr
    assert "error[E929]: training diverged" in result.stderr and "Traceback" not in result.stderr
    assert "train {" in result.stderr  # the train block is quoted
    assert ckpt.load_checkpoint(tmp_path / "runs" / "div" / "checkpoint.safetensors")


def test_existing_run_folder_needs_resume(tmp_path):
    first = _train(tmp_path, *SMALL, "--set", "train.iterations=5", "--out", "runs/a")
    assert first.returncode == 0, first.stderr
    again = _train(tmp_path, *SMALL, "--set", "train.iterations=5", "--out", "runs/a")
    assert again.returncode == 1
    assert "error[E920]" in again.stderr and "--resume" in again.stderr
    # --resume continues the run as it was started, and says which of this command's
    # settings it does not apply
    resumed = _train(tmp_path, *SMALL, "--set", "train.iterations=9", "--out", "runs/a", "--resume")
    assert resumed.returncode == 0, resumed.stderr
    assert "not applied: --set train.iterations=9 (a run's settings are fixed" in resumed.stderr
    assert "resuming at iteration 5 of 5" in resumed.stderr


def _cli(cwd: Path, *args: str):
    env = dict(os.environ, OMP_NUM_THREADS="1", COLUMNS="120")
    return subprocess.run(
        [sys.executable, "-m", "ebmspec", *args],
        cwd=cwd,
        env=env,
        capture_output=True,
        text=True,
        timeout=600,
    )


def test_run_folder_feeds_eval_and_sample(tmp_path):
    trained = _train(tmp_path, *SMALL, "--set", "train.iterations=20", "--out", "runs/t")
    assert trained.returncode == 0, trained.stderr
    run = tmp_path / "runs" / "t"
    latest = tmp_path / "runs" / "latest"  # a relative link, so the run's files open through it
    assert latest.is_symlink() and os.readlink(latest) == "t"
    assert latest.resolve() == run.resolve()
    for name in ("run.json", "spec.ebm", "checkpoint.json", "energy.safetensors", "metrics.jsonl"):
        assert (run / name).is_file(), name

    evaluated = _cli(tmp_path, "eval", "--json", "--limit", "40")  # the latest run
    assert evaluated.returncode == 0, evaluated.stderr
    result = json.loads(evaluated.stdout)
    for key in ("accuracy_energy", "accuracy_samples", "ece"):
        assert 0.0 <= result[key] <= 1.0, key
    assert result["examples"] == 40 and result["iteration"] == 20
    assert (
        json.loads((run / "eval.json").read_text())["accuracy_energy"] == result["accuracy_energy"]
    )
    assert (run / "density.png").read_bytes().startswith(b"\x89PNG")
    assert (latest / "density.png").read_bytes().startswith(b"\x89PNG")
    assert (run / "reliability.png").read_bytes().startswith(b"\x89PNG")
    assert len(result["reliability"]) == result["bins"]  # [count, accuracy, confidence] per bin

    sampled = _cli(tmp_path, "sample", "runs/t", "--condition", "y=[1, 0, 1]", "-n", "8")
    assert sampled.returncode == 0, sampled.stderr
    assert "EMA weights at iteration 20" in sampled.stdout
    npz = _cli(tmp_path, "sample", "--condition", "y=[1, 0, 1]", "-n", "8", "-o", "s.npz")
    assert npz.returncode == 0, npz.stderr
    # With -o nothing else says which run was sampled: stderr does.
    assert "sampling runs/t: EMA weights at iteration 20 of 20\n" in npz.stderr
    import numpy as np

    with np.load(tmp_path / "s.npz") as saved:
        assert (saved["y"] == np.array([1, 0, 1])).all()
    # Outputs get ordinary permissions (the temp files of atomic writes are private).
    mask = os.umask(0)
    os.umask(mask)
    for path in (run / "energy.safetensors", run / "eval.json", tmp_path / "s.npz"):
        assert path.stat().st_mode & 0o777 == 0o666 & ~mask, path


def test_missing_and_foreign_run_folders_are_located_errors(tmp_path):
    none = _cli(tmp_path, "eval")
    assert none.returncode == 1 and "error[E921]" in none.stderr and "Traceback" not in none.stderr
    (tmp_path / "plain").mkdir()
    foreign = _cli(tmp_path, "sample", "plain")
    assert foreign.returncode == 1 and "error[E922]" in foreign.stderr
    spec = _cli(tmp_path, "eval", str(TOY))  # eval measures runs; the hint says how to get one
    assert spec.returncode == 1
    assert f"error[E922]: `{TOY}` is a spec, not a run folder" in spec.stderr
    assert f"help: train it first (`ebmspec train {TOY}`)" in spec.stderr
    resume = _cli(tmp_path, "train", str(TOY), "--resume", "--out", "plain")
    assert resume.returncode == 1 and "error[E923]" in resume.stderr
