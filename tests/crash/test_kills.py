"""A training run killed with SIGKILL at 20 random instants, each resumed with `--resume`: every
resumed run ends bit-identical to the uninterrupted one (issue 31, item 4).

16 instants are drawn from the write operations of the uninterrupted run (`kill_at.py` kills the
process just before the K-th: between two writes, the state a power cut leaves), 4 from its
duration (a kill at a random time, inside a write or a computation); a 21st, fixed, falls between
run.json and the first checkpoint, where `--resume` starts the run over. The run covers every file a
run folder has: checkpoints and their history, energy and best weights, metrics.jsonl / .csv,
TensorBoard events, an evaluation in the middle and one at the end, run.json, spec.ebm and
runs/latest. "Bit-identical": every checkpoint tensor (weights, EMA, Adam moments, replay buffer,
generators, statistics) and every weights file equal with `torch.equal`; metrics.jsonl,
checkpoint.json and best.json equal once wall-clock seconds are left out; TensorBoard's scalars the
same steps and values. Slow (about 3 minutes on two cores): CI's crash-safety step runs it.
"""

from __future__ import annotations

import json
import os
import random
import signal
import subprocess
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest
import torch
from safetensors.torch import load_file
from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

from ebmspec.runtime.io import checkpoint as ckpt
from tests.conftest import ROOT

pytestmark = pytest.mark.slow

SPEC = ROOT / "specs" / "toy_joint.ebm"
SETTINGS = [
    *("--profile", "smoke", "--device", "cpu"),
    *("--set", "train.iterations=40", "--set", "train.checkpoint_every=10"),
    *("--set", "train.eval_every=20", "--set", "train.objective.buffer=500"),
    *("--set", "train.optimizer.warmup=10", "--set", "evaluate.samples.steps=10"),
    *("--set", "evaluate.accuracy.steps=10", "--set", "evaluate.accuracy.chains=20"),
]
AT_WRITES, AT_TIMES = 16, 4  # and one fixed instant: 21 kills
SEED = 31
APPENDS = ("tensorboard/events", "metrics.jsonl")
WALL_CLOCK = {"train_seconds", "seconds"}  # the only values allowed to differ


def _run(cwd: Path, at: int, out: str, *extra: str, events: Path | None = None, delay=None):
    """(exit status, stdout, stderr) of one `ebmspec train` under kill_at; `delay`: SIGKILL
    after that many seconds unless it ended first."""
    command = [sys.executable, "-m", "tests.crash.kill_at", str(at)]
    command += [str(events or os.devnull), "--", "train", str(SPEC), *SETTINGS, "--out", out]
    env = dict(os.environ, OMP_NUM_THREADS="1", COLUMNS="120", PYTHONPATH=str(ROOT))
    process = subprocess.Popen(
        [*command, *extra], cwd=cwd, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE
    )
    if delay is not None:
        try:
            process.wait(timeout=delay)
        except subprocess.TimeoutExpired:
            process.send_signal(signal.SIGKILL)
    out_bytes, err_bytes = process.communicate(timeout=600)
    return process.returncode, out_bytes.decode(), err_bytes.decode()


def _timeless(value):
    if isinstance(value, dict):
        return {k: _timeless(v) for k, v in value.items() if k not in WALL_CLOCK}
    if isinstance(value, list):
        return [_timeless(v) for v in value]
    return value


def _state(run: Path) -> dict:
    """Everything the comparison covers, wall-clock seconds left out."""
    tensors, meta = ckpt.load_checkpoint(run / "checkpoint.safetensors")
    lines = (run / "metrics.jsonl").read_text(encoding="utf-8").splitlines()
    board = EventAccumulator(str(run / "tensorboard"), size_guidance={"scalars": 0})
    board.Reload()
    return {
        "checkpoint": tensors,
        "meta": _timeless(meta),
        "weights": {
            name: load_file(run / name) for name in ("energy.safetensors", "best.safetensors")
        },
        "history": sorted(p.name for p in (run / "history").iterdir()),
        "json": {
            name: _timeless(json.loads((run / name).read_text(encoding="utf-8")))
            for name in ("checkpoint.json", "best.json", "run.json")
        },
        "metrics": [_timeless(json.loads(line)) for line in lines],
        "csv_rows": len((run / "metrics.csv").read_text(encoding="utf-8").splitlines()),
        "scalars": {
            tag: [(e.step, e.value) for e in board.Scalars(tag)] for tag in board.Tags()["scalars"]
        },
    }


def _differences(expected: dict, got: dict) -> list[str]:
    found = []
    for part in ("checkpoint", *expected["weights"]):
        a = expected["checkpoint"] if part == "checkpoint" else expected["weights"][part]
        b = got["checkpoint"] if part == "checkpoint" else got["weights"][part]
        if a.keys() != b.keys():
            found.append(f"{part}: tensors {sorted(a.keys() ^ b.keys())[:3]}")
        found += [f"{part}: {k}" for k in a if k in b and not torch.equal(a[k], b[k])][:3]
    for part in ("meta", "history", "metrics", "csv_rows", "scalars"):
        if expected[part] != got[part]:
            found.append(part)
    for name, content in expected["json"].items():
        other = dict(got["json"][name])
        if name == "run.json":  # its own folder and creation time
            content = {k: v for k, v in content.items() if k != "created"}
            other = {k: v for k, v in other.items() if k != "created"}
        if content != other:
            found.append(name)
    return found


def test_sigkill_at_20_random_instants_resumes_bit_identical(tmp_path):
    events = tmp_path / "events.txt"
    # runs/ exists for every killed run (made by this one): so it must for this one too, or this
    # run's list holds two more mkdir operations at the start and the numbering shifts.
    (tmp_path / "runs").mkdir()
    began = time.perf_counter()
    code, _, err = _run(tmp_path, 0, "runs/whole", events=events)
    duration = time.perf_counter() - began
    assert code == 0, err
    # "seconds since start: operation" per line; the time instants fall between the first write
    # and the last (before it the process is importing torch, and a kill leaves nothing).
    timed = [line.split(" ", 1) for line in events.read_text(encoding="utf-8").splitlines()]
    writes = [operation for _, operation in timed]
    first, last = float(timed[0][0]), float(timed[-1][0])
    assert len(writes) > AT_WRITES * 2, writes  # enough distinct places to choose from
    expected = _state(tmp_path / "runs" / "whole")

    rng = random.Random(SEED)
    # Half anywhere (most writes are TensorBoard's and metrics.jsonl's appends), half among the
    # writes that create, rename, link or remove a file (where a half-done step could show).
    anywhere = range(1, len(writes) + 1)
    files = [k for k in anywhere if not any(a in writes[k - 1] for a in APPENDS)]
    chosen = set(rng.sample(files, AT_WRITES // 2))
    chosen |= set(rng.sample([k for k in anywhere if k not in chosen], AT_WRITES // 2))
    instants = [("write", k) for k in sorted(chosen)]
    # and one fixed: between run.json and the first checkpoint, where --resume starts over
    first_checkpoint = next(
        k for k in anywhere if ".checkpoint.safetensors." in writes[k - 1] and k not in chosen
    )
    instants.append(("write", first_checkpoint))
    instants += [("time", round(rng.uniform(first, last), 2)) for _ in range(AT_TIMES)]

    def one(index: int) -> str:
        kind, where = instants[index]
        out = f"runs/k{index:02d}"
        if kind == "write":
            killed_at = tmp_path / f"killed{index:02d}.txt"
            code, _, err = _run(tmp_path, where, out, events=killed_at)
            assert code == -signal.SIGKILL, f"write {where} was not reached: {err[-2000:]}"
            operation = killed_at.read_text(encoding="utf-8").strip()
            what = f"before write {where}/{len(writes)} ({operation})"
        else:
            code, _, err = _run(tmp_path, 0, out, delay=where)
            what = f"at {where} s of {duration:.1f} s" + (" (had finished)" if code == 0 else "")
        code, _, err = _run(tmp_path, 0, out, "--resume")
        if (kind, where) == ("write", first_checkpoint):
            assert "stopped before its first checkpoint: training it from the start" in err, err
            what += ", started over"
        if code == 1 and "error[E923]" in err:
            # killed before run.json existed: a clear error, and a new run goes on from there
            assert "help: start a new run without --resume" in err, err
            what += ", E923 then a new run"
            code, _, err = _run(tmp_path, 0, out)
        assert code == 0, f"{what}: resume failed\n{err[-3000:]}"
        differing = _differences(expected, _state(tmp_path / out))
        assert differing == [], f"{what}: {differing}"
        return what

    with ThreadPoolExecutor(max_workers=2) as pool:
        done = list(pool.map(one, range(len(instants))))
    print(f"\ncrash safety: {len(writes)} writes in the uninterrupted run ({duration:.1f} s)")
    for index, what in enumerate(done):
        print(f"  kill {index + 1:2d} {what}: resumed bit-identical")
    print(f"killed_and_resumed={len(done)} bit_identical={len(done)}")
