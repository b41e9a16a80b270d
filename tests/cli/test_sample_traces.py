"""`ebmspec sample --trace`: draws as (chain, draw, *shape) in .npz and ArviZ .nc, per-element
R-hat / ESS / MCSE in --json, the .npz and the .nc, the per-variable table, and the located errors.

The .nc test needs ArviZ and h5netcdf (the extra `ebmspec[traces]`, installed by CI's step for
it) and skips without them; it opens the file with `arviz.from_netcdf` and checks `az.summary`
against the numbers `--json` printed, element by element, to 1e-6.
"""

from __future__ import annotations

import json
import math

import numpy as np
import pytest
import torch

from ebmspec.runtime.sampling.convergence import diagnose
from tests.conftest import ROOT

TOY = str(ROOT / "specs" / "toy_joint.ebm")  # x: real[2], y: categorical(2)[3]
KEYS = ("rhat", "ess_bulk", "ess_tail", "mcse_mean")


def strict(text: str) -> dict:
    """JSON as a strict parser reads it: NaN or Infinity is an error."""

    def refuse(constant: str):
        raise ValueError(f"non-standard JSON constant {constant}")

    return json.loads(text, parse_constant=refuse)


def same(ours: float | None, theirs: float) -> bool:
    """Equal to 1e-6, or both undefined (strict JSON writes NaN and inf as null). Chains stuck
    at their own values: R-hat inf here, a number above 1e12 in ArviZ (NumPy's variance of a
    constant chain can be a rounding error above 0)."""
    if ours is None:
        return math.isnan(theirs) or math.isinf(theirs) or theirs > 1e12
    return abs(ours - theirs) <= 1e-6 * max(1.0, abs(theirs))


def test_nc_opens_with_arviz_and_az_summary_matches_the_printed_numbers(cli, tmp_path):
    az = pytest.importorskip("arviz")
    pytest.importorskip("h5netcdf")
    args = ("sample", TOY, "--trace", "-n", "6", "--steps", "24", "-o", "s.nc", "--json")
    status, out, err = cli(*args, cwd=tmp_path)
    assert status == 0, err
    assert "wrote s.nc (6 chains x 12 draws as ArviZ InferenceData" in err
    printed = strict(out)
    assert printed["output"] == "s.nc"
    assert printed["draws"] == {"warmup": 12, "thin": 1, "draws": 12, "traced": True}
    idata = az.from_netcdf(tmp_path / "s.nc")
    posterior = idata.posterior
    assert posterior["x"].dims == ("chain", "draw", "x_dim_0")
    assert posterior["x"].shape == (6, 12, 2)
    assert posterior["y"].dims == ("chain", "draw", "y_dim_0")
    assert posterior["y"].shape == (6, 12, 3)
    assert posterior["y"].dtype.kind == "i" and set(np.unique(posterior["y"])) <= {0, 1}
    assert posterior.attrs["warmup"] == 12 and posterior.attrs["sampler"] == "joint"
    summary = az.summary(idata, round_to="none")
    columns = {"rhat": "r_hat", "ess_bulk": "ess_bulk", "ess_tail": "ess_tail"}
    columns["mcse_mean"] = "mcse_mean"
    for name, count in (("x", 2), ("y", 3)):
        row = printed["convergence"][name]
        assert row["of"] == "elements" and row["elements"] == count
        for element in range(count):
            for key, column in columns.items():
                ours = row["per_element"][key][element]
                theirs = float(summary.loc[f"{name}[{element}]", column])
                assert same(ours, theirs), (name, element, key, ours, theirs)
        # the file's own diagnostics group holds the same numbers
        stored = idata["diagnostics"][name]
        for key in KEYS:
            kept = stored.sel(diagnostic=key).values.tolist()
            assert all(
                (a is None and not math.isfinite(b)) or a == pytest.approx(b, rel=1e-12)
                for a, b in zip(row["per_element"][key], kept, strict=True)
            )
    labels = idata["diagnostics"]["sampler.block"].values.tolist()
    assert labels == ["block 0: gwg(y)", "block 1: langevin(x)"]
    # .nc implies --trace: the same chains without the flag
    status, _, err = cli("sample", TOY, "-n", "6", "--steps", "24", "-o", "t.nc", cwd=tmp_path)
    assert status == 0, err
    again = az.from_netcdf(tmp_path / "t.nc").posterior
    assert np.array_equal(again["x"].values, posterior["x"].values)


def test_npz_trace_has_chain_and_draw_axes(cli, tmp_path):
    args = ("sample", TOY, "--trace", "--warmup", "4", "--thin", "3", "-n", "5", "--steps", "16")
    status, out, err = cli(*args, "-c", "y=[0, 1, 1]", "-o", "s.npz", "--json", cwd=tmp_path)
    assert status == 0, err
    assert "wrote s.npz (5 chains x 4 draws of 2 variables" in err
    printed = strict(out)
    with np.load(tmp_path / "s.npz") as saved:
        data = {key: saved[key] for key in saved.files}
    # sweeps 4, 7, 10 and 13 of 0..15; the clamped y repeated over the draws
    assert data["x"].shape == (5, 4, 2) and data["x"].dtype == np.float32
    assert data["y"].shape == (5, 4, 3) and (data["y"] == [0, 1, 1]).all()
    assert (data["trace.sweeps"], data["trace.warmup"], data["trace.thin"]) == (16, 4, 3)
    assert data["diagnostics.variables"].tolist() == ["x"]
    assert "diagnostics.y.rhat" not in data  # clamped: nothing to diagnose
    # the per-element numbers are those of the saved draws, in the file and in --json
    again = diagnose(torch.from_numpy(data["x"]).double())
    for key in KEYS:
        assert data[f"diagnostics.x.{key}"].shape == (2,)
        assert np.allclose(data[f"diagnostics.x.{key}"], again[key].numpy(), rtol=1e-12)
        assert np.allclose(printed["convergence"]["x"]["per_element"][key], again[key].numpy())
    assert data["diagnostics.rhat"][0] == again["rhat"].max()
    assert data["diagnostics.ess_tail"][0] == again["ess_tail"].min()
    # the final state alone without --trace, as before
    status, _, err = cli("sample", TOY, "-n", "5", "--steps", "16", "-o", "f.npz", cwd=tmp_path)
    assert status == 0, err
    with np.load(tmp_path / "f.npz") as saved:
        assert saved["x"].shape == (5, 2) and "trace.warmup" not in saved.files


def test_table_summarises_each_variable_over_its_elements(cli):
    args = ("sample", TOY, "-n", "6", "--steps", "20", "--seed", "3")
    status, out, err = cli(*args, "--trace")
    assert status == 0, err
    assert "convergence (10 draws after 10 warm-up sweeps)" in out
    assert "split R-hat (worst)" in out and "> 1.01" in out and "tail ESS (min)" in out
    status, printed, _ = cli(*args, "--trace", "--json")
    rows = strict(printed)["convergence"]
    table = out[out.index("convergence (") :].splitlines()
    for name, count in (("x", 2), ("y", 3)):
        row = rows[name]
        line = next(line for line in table if line.startswith(f"│ {name} "))
        cells = [cell.strip() for cell in line.strip("│").split("│")]
        assert cells[:2] == [name, f"{count} elements"]
        assert cells[2] == f"{row['rhat']:.3f}" and cells[3] == str(row["rhat_over_1_01"])
        assert cells[4] == f"{row['ess_bulk']:.0f}" and cells[5] == f"{row['ess_tail']:.0f}"
        finite = [r for r in row["per_element"]["rhat"] if r is not None]
        assert row["rhat"] == max(finite)
        assert row["rhat_over_1_01"] == sum(r > 1.01 for r in finite)
        assert row["ess_bulk"] == min(row["per_element"]["ess_bulk"])
    # without --trace: the per-chain mean of each variable, as before
    status, out, _ = cli(*args)
    assert status == 0 and "│ x        │ mean " in out[out.index("convergence (") :]


def test_trace_errors_are_located_and_write_nothing(cli, tmp_path, monkeypatch):
    status, out, err = cli("sample", TOY, "--steps", "8", "--warmup", "8", "-o", "s.npz")
    assert (status, out) == (1, "")
    assert err == (
        "--warmup:1:1: error[E915]: a warm-up of 8 sweeps leaves none of the 8 sweeps as draws\n"
        "    1 | 8\n"
        "      | ^\n"
        "      = help: keep some: --warmup below 8, or more sweeps with --steps\n"
        "1 error in --warmup\n"
    )
    status, _, err = cli("sample", TOY, "--steps", "1", "--trace")
    assert status == 1 and "--steps:1:1: error[E915]: `--steps 1` leaves no draws to trace" in err

    import ebmspec.cli.traces

    monkeypatch.setattr(ebmspec.cli.traces, "LIMIT", 1000)
    status, _, err = cli("sample", TOY, "-n", "4", "--steps", "40", "--trace", cwd=tmp_path)
    # 4 chains x 20 draws x (2 float32 + 3 int64 codes = 32 bytes) = 2560 bytes
    assert status == 1
    assert err.startswith(
        "--trace:1:1: error[E918]: the trace would take 2.5 KiB, more than the 1000 bytes it may\n"
        "    1 | 4 chains x 20 draws x 32 bytes\n"
    )
    assert "help: keep one draw in 3 (--thin 3), or run fewer --chains or --steps" in err
    status, _, err = cli("sample", TOY, "-n", "4", "--steps", "40", "--trace", "--thin", "3")
    assert status == 0, err  # 7 draws: 896 bytes

    import ebmspec.runtime.io.traces

    monkeypatch.setattr(ebmspec.runtime.io.traces, "missing_packages", lambda: ["arviz"])
    status, _, err = cli("sample", TOY, "--steps", "4", "-o", "out/s.nc", cwd=tmp_path)
    assert status == 1
    assert err == (
        "--output:1:6: error[E917]: writing ArviZ InferenceData (.nc) needs arviz, which is "
        "not installed\n"
        "    1 | out/s.nc\n"
        "      |      ^~~\n"
        '      = help: install the extra: `pip install "ebmspec[traces]"`, or save an .npz '
        "instead\n"
        "1 error in --output\n"
    )
    assert list(tmp_path.iterdir()) == []
