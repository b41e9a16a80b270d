"""`ebmspec eval`'s computation, shared by the CLI and `Run.evaluate`: a trained run in, a dict out.

In: a `runs.TrainedRun` (program, EMA model, data statistics, fitted transforms), a device, a
limit on test examples, the chains' seed and whether to draw figures. Out: the dict `ebmspec eval`
prints and writes to eval.json (`accuracy_energy`, `accuracy_samples`, `ece`, per-attribute
numbers, the run's iteration, weights and training time, and `images`: the PNGs written into the
run folder - conditional sample grids, the density plot of 2-D data, reliability diagrams and OOD
histograms).
"""

from __future__ import annotations

from pathlib import Path

import torch

from ebmspec.runtime.data.encoding import test_split
from ebmspec.runtime.io.checkpoint import write_atomically
from ebmspec.runtime.model.energy import variable_table
from ebmspec.source import Source


def evaluate_run(
    run,
    device: str,
    limit: int | None,
    seed: int | None,
    images: bool,
    progress=None,
    ais: str | None = None,
) -> dict:
    """Run the spec's `evaluate` block on `run`'s EMA weights. `seed` seeds the chains (None: the
    training seed); the data split and transforms stay the training run's. `progress(done,
    total)`, if given, is called as test examples are evaluated (then as AIS anneals). `ais`:
    `ebmspec eval --ais`'s text ("" for the spec's or the default settings), None to run AIS
    only where the spec's evaluate block asks for it."""
    from ebmspec.runtime.data import load_dataset
    from ebmspec.runtime.evaluation import evaluate as evaluation
    from ebmspec.runtime.evaluation.likelihood import ais_settings
    from ebmspec.runtime.plots import pictures
    from ebmspec.runtime.training.trainer import Settings

    program = run.program
    ais_args = ais_settings(program, ais)  # a bad --ais fails before any work
    spec_dir = Path(run.info.get("spec", ".")).parent
    # The data split and transforms are the training run's (its seed); the chains take `seed`,
    # the training seed unless one is given.
    data_seed = Settings.of(program).seed
    seed = data_seed if seed is None else seed
    spec_file = run.path / "spec.ebm"  # data errors quote the run's own copy of the spec
    source = Source(str(spec_file), spec_file.read_text(encoding="utf-8"))
    dataset = load_dataset(program, spec_dir=spec_dir, seed=data_seed, source=source)
    split = test_split(variable_table(program), dataset, run.pipelines, data_seed)
    ood_scores: dict = {}
    result = evaluation.evaluate(
        program,
        run.model,
        split,
        run.stats,
        device,
        seed=seed,
        limit=limit,
        progress=progress,
        ood_scores=ood_scores,
        ais=ais_args,
    )
    result = {k: v for k, v in result.items() if not isinstance(v, torch.Tensor)}
    result["run"] = str(run.path)
    result["iteration"] = run.meta.get("iteration")
    result["train_seconds"] = run.meta.get("train_seconds")
    result["weights"] = run.meta.get("weights", "last")
    written = []
    if images and program.evaluate is not None:
        for report in program.evaluate.reports:
            if report.kind == "samples" and report.call.name == "grid":
                content = pictures.conditional_grid(
                    program, run.model, report.call, run.stats, device, seed=seed,
                    transforms=run.pipelines,
                )  # fmt: skip
                path = run.path / "samples_grid.png"
            elif report.kind == "density":
                variable = dict(report.call.args)["variable"]
                panels = pictures.density_panels(
                    program, run.model, report.call, split[variable], run.stats, device,
                    seed=seed,
                )  # fmt: skip
                content = pictures.density_png(panels, variable)
                path = run.path / "density.png"
            else:
                continue
            write_atomically(path, content)
            written.append(str(path))
    if images:
        written += _charts(run.path, result, ood_scores)
    result["images"] = written
    return result


def _charts(folder: Path, result: dict, ood_scores: dict) -> list[str]:
    """reliability.png (one diagram per prediction line, from its first method with
    probabilities) and ood_<score>.png (test vs each OOD set) in the run folder."""
    from ebmspec.runtime.plots import charts

    written = []
    tables = {
        f"{','.join(p['targets'])} by {p['ece_from']}": p["reliability"]
        for p in result.get("predictions", [])
        if p.get("reliability")
    }
    if tables:
        path = folder / "reliability.png"
        write_atomically(path, charts.reliability_png(tables))
        written.append(str(path))
    names = {"px": "log p(x)", "py": "max p(y)", "pxgrad": "-grad norm"}
    for kind, sets in ood_scores.items():
        inside = sets["test"]
        others = {n: s for n, s in sets.items() if n not in ("test", "reference")}
        if not others:
            continue
        path = folder / f"ood_{kind}.png"
        write_atomically(path, charts.histogram_png(inside, others, names[kind]))
        written.append(str(path))
    return written
