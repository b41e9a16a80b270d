"""`ebmspec plot`: the training curves of one or more run folders as a PNG or PDF.

In: the run folders and `-o` as the command line gave them. Out: the figure written
(`runtime.plots.curves`: one panel per logged quantity, the runs overlaid) and the path; a
folder that is not a run with a log is a located E922 on its RUN argument, an output that is not
.png or .pdf a located E916, a folder that cannot be written E914.
"""

from __future__ import annotations

from pathlib import Path

from ebmspec.diagnostics import argument_error


def _is_run(folder: Path) -> bool:
    """`runs.is_run`'s test, here so that plotting never imports torch (`ebmspec.runs` does)."""
    return (folder / "run.json").is_file() and (folder / "spec.ebm").is_file()


def check_run(folder: Path) -> None:
    """E922 unless `folder` is a run folder with a `metrics.jsonl`."""
    text = str(folder)
    if folder.suffix == ".ebm" and folder.is_file():
        message = f"`{text}` is a spec, not a run folder"
        help = f"train it first (`ebmspec train {text}`), then plot the run folder it writes"
    elif not folder.exists():
        message = f"`{text}` does not exist"
        help = "name a run folder written by `ebmspec train` (`ebmspec runs` lists them)"
    elif not _is_run(folder):
        message = f"`{text}` is not a run folder (it has no run.json and spec.ebm)"
        help = "run folders are written by `ebmspec train`; name one or more of them"
    elif not (folder / "metrics.jsonl").is_file():
        message = f"`{text}` has no training log (metrics.jsonl) to plot"
        help = "the log is written as the run trains; train it (again) with `ebmspec train`"
    else:
        return
    raise argument_error("RUN", text, "E922", message, 0, len(text), help)


def output_path(folders: list[Path], output: Path | None) -> Path:
    """`-o`, else RUN/curves.png for one run and ./curves.png for several; E916 unless the
    name ends in .png or .pdf."""
    if output is None:
        return folders[0] / "curves.png" if len(folders) == 1 else Path("curves.png")
    text, suffix = str(output), output.suffix
    if suffix.lower() not in (".png", ".pdf"):
        found = f"`{suffix}` files" if suffix else "a file without a suffix"
        start = len(text) - len(suffix)
        raise argument_error(
            "--output",
            text,
            "E916",
            f"cannot write {found}: curves are drawn as .png or .pdf",
            start if suffix else 0,
            len(text),
            f"end the file name in .png or .pdf, e.g. `-o {text[:start]}.pdf`",
        )
    return output


def plot_command(console, folders: list[Path], output: Path | None, x: str) -> Path:
    """Check every folder and the output, draw, write; prints and returns the path written."""
    from ebmspec.cli.run_folders import write_output
    from ebmspec.runtime.plots import curves, figures

    for folder in folders:
        check_run(folder)
    target = output_path(folders, output)
    series = [curves.read_run(folder, str(folder)) for folder in folders]
    content = curves.curves_png(series, x=x, format=figures.format_of(target))
    write_output(target, content)
    panels = len(curves.quantities(series))
    console.print(f"wrote {target} ({panels} panels, {len(folders)} run(s))")
    return target
