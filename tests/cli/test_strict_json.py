"""Every JSON file and line the tool writes is strict JSON: non-finite numbers are `null`, never
the bare `NaN` / `Infinity` that standard parsers reject."""

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


def test_a_run_folder_and_eval_json_parse_strictly(cli, tmp_path):
    spec = str(ROOT / "specs" / "table_pairs.ebm")
    run = tmp_path / "runs" / "pairs"
    args = ("train", spec, "--out", str(run), "--device", "cpu",
            "--set", "train.iterations=10", "--set", "train.checkpoint_every=5")  # fmt: skip
    status, _, err = cli(*args)
    assert status == 0, err
    status, out, err = cli("eval", str(run), "--limit", "20", "--json", "--device", "cpu")
    assert status == 0, err
    assert isinstance(_strict(out), dict)
    files = sorted(run.glob("*.json")) + sorted(run.glob("*.jsonl"))
    assert any(f.name == "eval.json" for f in files) and any(f.suffix == ".jsonl" for f in files)
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
