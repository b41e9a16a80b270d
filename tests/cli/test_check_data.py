"""`ebmspec check` reads a spec's own csv table or npz arrays: a missing file, column or array is
its error (E620, E625, E622), located at the argument it is about, not the first thing `train`
meets."""

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
    assert "t.ebm:2:17: error[E620]" in err  # at the file name
    (tmp_path / "t.csv").write_text("a,c\n" + "".join(f"{i},{i}\n" for i in range(8)))
    status, _, err = cli("check", str(spec), cwd=tmp_path)
    assert status == 1 and "error[E625]: `t.csv` has no column `b`" in err, err
    column = SPEC.splitlines()[1].index('"x = a..b"') + 1
    assert f"t.ebm:2:{column}: error[E625]" in err  # the caret under the columns entry
    assert "Traceback" not in err
    (tmp_path / "t.csv").write_text("a,b\n" + "".join(f"{i},{i}\n" for i in range(8)))
    status, out, err = cli("check", str(spec), cwd=tmp_path)
    assert status == 0 and "ok" in out, err
