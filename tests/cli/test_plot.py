"""`ebmspec plot RUN [RUN ...] [-o FILE]`: the training curves of real run folders as matplotlib
PNG or PDF (default RUN/curves.png for one run, ./curves.png for several); an output that is not
.png/.pdf (E916) or a folder that is not a run with a log (E922) is a located error, exit 1, and
nothing is written.
"""

from __future__ import annotations

import io

from PIL import Image

from tests.conftest import ROOT

SPEC = str(ROOT / "specs" / "table_pairs.ebm")


def _matplotlib_png(path) -> Image.Image:
    image = Image.open(io.BytesIO(path.read_bytes()))
    assert image.format == "PNG" and image.info["Software"].startswith("Matplotlib version")
    return image


def test_plot_writes_the_curves_of_one_run_and_of_several(cli, tmp_path):
    status, _, err = cli("train", SPEC, "-o", "run", "--set", "train.iterations=3",
                         "--device", "cpu", cwd=tmp_path)  # fmt: skip
    assert status == 0, err
    status, out, err = cli("plot", "run")
    assert status == 0, err
    assert "wrote run/curves.png" in out
    assert _matplotlib_png(tmp_path / "run" / "curves.png").size[0] >= 1000
    status, out, err = cli("plot", "run", "run", "-o", "both.pdf")
    assert status == 0, err
    assert (tmp_path / "both.pdf").read_bytes().startswith(b"%PDF")
    status, out, err = cli("plot", "run", "run", "--x", "minutes")
    assert status == 0, err
    _matplotlib_png(tmp_path / "curves.png")  # several runs: the current folder


def test_a_bad_suffix_or_a_folder_that_is_not_a_run_is_a_located_error(cli, tmp_path):
    (tmp_path / "empty").mkdir()
    status, out, err = cli("plot", "empty", cwd=tmp_path)
    assert status == 1 and out == ""
    assert err.startswith(
        "RUN:1:1: error[E922]: `empty` is not a run folder (it has no run.json and spec.ebm)"
    )
    assert "Traceback" not in err
    status, _, err = cli("plot", "runs/nope", cwd=tmp_path)
    assert status == 1 and err.startswith("RUN:1:1: error[E922]: `runs/nope` does not exist")
    status, _, err = cli("eval", "runs/nope", cwd=tmp_path)
    assert status == 1 and "error[E922]: `runs/nope` does not exist" in err
    status, _, err = cli("plot", SPEC)
    assert status == 1 and "error[E922]" in err and "is a spec, not a run folder" in err
    run = tmp_path / "half"  # a run folder whose log is gone
    run.mkdir()
    (run / "run.json").write_text("{}")
    (run / "spec.ebm").write_text("")
    status, _, err = cli("plot", "half")
    assert status == 1 and "`half` has no training log (metrics.jsonl) to plot" in err
    (run / "metrics.jsonl").write_text('{"iteration": 1, "loss": 1.0}\n')
    status, _, err = cli("plot", "half", "-o", "curves.jpg")
    assert status == 1
    assert err.startswith(
        "--output:1:7: error[E916]: cannot write `.jpg` files: curves are drawn as .png or .pdf"
    )
    assert "e.g. `-o curves.pdf`" in err
    assert sorted(p.name for p in tmp_path.iterdir()) == ["empty", "half"]  # nothing written
    assert sorted(p.name for p in run.iterdir()) == ["metrics.jsonl", "run.json", "spec.ebm"]


def test_plot_without_a_run_uses_the_latest_or_says_there_is_none(cli, tmp_path):
    status, _, err = cli("plot", cwd=tmp_path)
    assert status == 1 and "RUN:1:1: error[E921]: no run to use: `runs/latest`" in err
