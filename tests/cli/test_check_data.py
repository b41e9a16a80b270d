"""`ebmspec check` reads a spec's own csv table or npz arrays: a missing file, column or array is
its located error (E620, E625, E622), not the first thing `train` meets."""

from __future__ import annotations

SPEC = """model t "a table"
data csv(file = "t.csv", columns = ["x = a..b"], test = 0.25)
variables { x : real[2] }
energy { return -0.5 * sum(x * x) }
sampler s { update x with langevin(step = 0.01) }
"""


def test_check_reads_the_spec_s_own_table(cli, tmp_path):
    spec = tmp_path / "t.ebm"
    spec.write_text(SPEC)
    status, _, err = cli("check", str(spec), cwd=tmp_path)
    assert status == 1 and "error[E620]: data file `t.csv` not found" in err
    (tmp_path / "t.csv").write_text("a,c\n" + "".join(f"{i},{i}\n" for i in range(8)))
    status, _, err = cli("check", str(spec), cwd=tmp_path)
    assert status == 1 and "error[E625]: `t.csv` has no column `b`" in err, err
    assert "Traceback" not in err
    (tmp_path / "t.csv").write_text("a,b\n" + "".join(f"{i},{i}\n" for i in range(8)))
    status, out, err = cli("check", str(spec), cwd=tmp_path)
    assert status == 0 and "ok" in out, err
