"""What a run's commands write: every JSON file and line is strict JSON (non-finite numbers are
`null`, never the bare `NaN` / `Infinity` that standard parsers reject), and `eval --seed` seeds
the chains while the test split stays the training run's."""

from __future__ import annotations

import json
import math

import numpy as np
import torch
from safetensors import safe_open

from ebmspec.runtime.io import strict_json
from tests.conftest import ROOT


def _strict(text: str):
    def refuse(constant):
        raise ValueError(f"non-standard JSON constant {constant}")

    return json.loads(text, parse_constant=refuse)


def test_non_finite_numbers_become_null():
    value = {"a": math.nan, "b": [1.5, -math.inf, np.float32("nan")], "c": torch.tensor(2.0)}
    assert _strict(strict_json.dumps(value)) == {"a": None, "b": [1.5, None, None], "c": 2.0}


def test_every_json_the_commands_write_parses_strictly(cli, tmp_path):
    """A smoke run trained, evaluated and sampled: every .json / .jsonl file in its folder and
    every `--json` output (check, eval, sample, runs) parses with a parser that refuses NaN."""
    spec = str(ROOT / "specs" / "toy_joint.ebm")
    run = tmp_path / "runs" / "toy"
    args = ("train", spec, "--profile", "smoke", "--out", str(run), "--device", "cpu",
            "--set", "train.checkpoint_every=5", "--set", "evaluate.samples.steps=10",
            "--set", "evaluate.accuracy.steps=10", "--set", "evaluate.samples.chains=2",
            "--set", "evaluate.accuracy.chains=4")  # fmt: skip
    status, _, err = cli(*args, cwd=tmp_path)
    assert status == 0, err
    evaluate = ("eval", str(run), "--limit", "20", "--json", "--device", "cpu", "--no-images")
    commands = (
        ("check", spec, "--json"),
        (*evaluate, "-o", str(tmp_path / "result.json")),
        ("sample", str(run), "-n", "4", "--steps", "2", "--json", "--device", "cpu"),
        ("runs", str(tmp_path / "runs"), "--json"),
    )
    for command in commands:
        status, out, err = cli(*command)
        assert status == 0, err
        assert isinstance(_strict(out), dict), command[0]
    files = sorted(p for p in tmp_path.rglob("*") if p.suffix in (".json", ".jsonl"))
    wrote = {"run.json", "checkpoint.json", "best.json", "eval.json", "metrics.jsonl"}
    assert wrote | {"result.json"} <= {f.name for f in files}
    for path in files:
        lines = path.read_text().splitlines() if path.suffix == ".jsonl" else [path.read_text()]
        for line in lines:
            _strict(line)
    checkpoints = 0
    for tensors in run.rglob("*.safetensors"):
        with safe_open(str(tensors), "pt") as handle:
            meta = (handle.metadata() or {}).get("meta")
        if meta is not None:  # a training checkpoint's JSON meta
            checkpoints += 1
            assert isinstance(_strict(meta), dict)
    assert checkpoints >= 1


SMALL = """
model small "labels from points, sample-based prediction"
data toy(attributes = "multi")
variables {
  x : real[2]
  y : categorical(2)[3]
}
energy { return mlp(concat(x, onehot(y)), hidden = [16]) }
sampler joint {
  update y with gibbs
  update x with langevin(step = 0.01, noise = 0.1)
  sweeps = 5
}
train { objective = pcd(steps = 2, buffer = 100); batch = 50; iterations = 5 }
evaluate { predict y from x by samples(chains = 4, steps = 5) }
"""


def test_eval_seed_changes_the_chains_not_the_split(cli, tmp_path):
    """`eval --seed` was overwritten by the training seed: two seeds now give different
    sample-based numbers on the same test examples, and no seed means the training seed."""
    spec = tmp_path / "small.ebm"
    spec.write_text(SMALL)
    run = str(tmp_path / "run")
    status, _, err = cli("train", str(spec), "--out", run, "--device", "cpu")
    assert status == 0, err
    results = {}
    for seed in (None, "0", "1", "2"):
        extra = () if seed is None else ("--seed", seed)
        status, out, err = cli("eval", run, "--limit", "200", "--json", "--device", "cpu", *extra)
        assert status == 0, err
        results[seed] = _strict(out)
    samples = {k: r["per_attribute"]["accuracy_samples"] for k, r in results.items()}
    assert samples[None] == samples["0"]  # trained with seed 0
    assert samples["1"] != samples["2"]
    assert {r["examples"] for r in results.values()} == {200}
