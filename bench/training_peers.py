"""Training speed and quality against two PyTorch EBM libraries, side by side in one process.

In: `--task jem` (paper 000's JEM on the MNIST subset, `specs/mnist_jem.ebm --profile cpu`),
`--task toy` (PCD on the 8-Gaussians toy, `bench/specs/toy_pcd.ebm`) or `all`; `--seeds`,
`--iterations` (ebmspec's run length; the default is each spec's cpu profile), `--threads`,
`--device` (cpu, or cuda on a machine with a GPU: every arm's network, batches and chains live
there) and `--capture` (ebmspec's sweeps: the spec's `train.capture`, or off / compile / graphs;
graphs, CUDA-graph replay, is for cuda).
Out: one table per task, one row per library and seed, then the means with their spread and the
summary lines `jem_speed_vs_ebmkit=`, `jem_acc_gain_vs_ebmkit=` (points), `toy_speed_vs_*=` and
`toy_tv_gain_vs_*=`, and the load.

The arms of one seed share everything but the library:

* the network and its initial weights: ebmspec builds the spec's network with the seed; the peers
  train deep copies of it at those very weights (JEM: the 10-way MLP, its marginal energy
  -logsumexp of the logits; toy: the 2 -> 256 -> 256 -> 256 -> 1 ELU MLP);
* the data: the spec's dataset and transforms (MNIST: dequantised, logit space), the peers' batches
  drawn through the same `encode` from a generator seeded like ebmspec's batch stream;
* the sampler: unadjusted Langevin x + step * grad f + noise * xi for `steps` steps, clamped to the
  variable's box, from a replay buffer of the spec's size, 5 % of chains re-initialised from the
  spec's init distribution (ebmkit: `ReplayBuffer(init_fn=...)`; torchebm 0.8 instead adds 0.01
  noise to 5 % of the chains it draws, its own PCD recipe, and its buffer is filled from the same
  init distribution here);
* the objective: the spec's energy^2 weight, JEM's alpha = 1 (ebmkit's `JEMLoss`, torchebm's
  `PersistentContrastiveDivergence` plus the cross-entropy), Adam with the spec's lr, betas, warm-up
  and cosine decay;
* the wall time: ebmspec runs the spec's iterations (`Trainer.run`, its clock: the iterations, data
  included); each peer then trains for exactly that many seconds, its cosine decay over the
  fraction of the time spent.

Measured: iterations per second, and (JEM) test accuracy and top-label ECE of softmax(logits) on the
1,000 test images, (toy) the total-variation distance between the model's density and the true
mixture on a 200 x 200 grid over [-4, 4]^2, and the test points' negative log-likelihood under the
grid-normalised model density.

Run (it trains: keep other work off the machine; each arm pinned to one thread):
`python bench/training_peers.py --task all --seeds 3`; a plumbing check:
`python bench/training_peers.py --smoke`.
"""

from __future__ import annotations

import argparse
import copy
import math
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

import torch
import torch.nn.functional as F
from torch import nn

from ebmspec.api import compile_file
from ebmspec.runtime.data import load_dataset
from ebmspec.runtime.data.encoding import encode, test_split
from ebmspec.runtime.data.toy import TOY_CENTRES, TOY_SCALE
from ebmspec.runtime.evaluation.metrics import calibration_error
from ebmspec.runtime.model.energy import variable_table
from ebmspec.runtime.sampling.capture import CAPTURE_MODES
from ebmspec.runtime.training.trainer import Settings, Trainer, warmup_factor

ROOT = Path(__file__).resolve().parent.parent
SPECS = {"jem": ROOT / "specs" / "mnist_jem.ebm", "toy": ROOT / "bench" / "specs" / "toy_pcd.ebm"}
GRID = 200
BOX = 4.0


# ---- shared set-up -----------------------------------------------------------------------------
class Recipe:
    """Everything the peers copy from the ebmspec arm of one seed."""

    def __init__(self, task: str, seed: int, settings: list[str], device: str = "cpu"):
        self.task = task
        self.device = device
        self.program = compile_file(SPECS[task], "cpu", [f"train.seed={seed}", *settings])
        self.s = Settings.of(self.program)
        self.dataset = load_dataset(self.program, SPECS[task].parent, self.s.seed)
        self.table = variable_table(self.program)
        self.objective = dict(self.program.train.objective.args)
        sampler = self.program.sampler(self.s.sampler)
        (x_block,) = [b.kernel for b in sampler.blocks if b.kernel.name == "langevin"]
        self.step = float(x_block.arg("step"))
        self.noise = float(x_block.arg("noise"))
        var = self.table["x"]
        self.box = (var.low, var.high) if var.low is not None else None

    def batches(self, pipelines):
        """The peers' batches: ebmspec's dataset and transforms, a generator seeded as its own."""
        generator = torch.Generator().manual_seed(self.s.seed)
        while True:
            raw = self.dataset.batch(self.s.batch, generator)
            values, _ = encode(self.table, raw, pipelines, generator)
            y = raw.get("y")
            yield values["x"].to(self.device), None if y is None else y.to(self.device)

    def init_fn(self, stats: dict):
        """The spec's init distribution of x for fresh chains (normal_data / uniform_data_range),
        drawn on the CPU (ebmkit's buffer lives there; the other arms copy the draws over)."""
        known = {k: v.cpu() if torch.is_tensor(v) else v for k, v in stats.get("x", {}).items()}
        low, high = self.box if self.box else (-math.inf, math.inf)

        def draw(shape):
            if "mean" in known:
                return (known["mean"] + known["std"] * torch.randn(shape)).clamp(low, high)
            return known["min"] + (known["max"] - known["min"]) * torch.rand(shape)

        return draw


def lr_at(s, iteration: int, fraction: float) -> float:
    """The spec's schedule for a peer that trains by the clock: warm-up by iteration, the decay
    over the fraction of the wall time spent."""
    decay = 1.0
    if s.decay == "cosine":
        decay = 0.5 * (1 + math.cos(math.pi * min(fraction, 1.0)))
    return s.lr * warmup_factor(iteration, s.warmup) * decay


def network(model) -> nn.Module:
    (block,) = model.blocks.values()
    return block.net


# ---- arm 1: ebmspec ----------------------------------------------------------------------------
def run_ebmspec(recipe: Recipe, folder: Path, capture: str = "spec"):
    mode = capture if capture == "spec" else CAPTURE_MODES[capture]
    trainer = Trainer(recipe.program, recipe.dataset, folder / "run", recipe.device, capture=mode)
    initial = copy.deepcopy(network(trainer.model))
    trainer.start(resume=False)
    summary = trainer.run()
    assert summary["rollbacks"] == 0, "the ebmspec arm rolled back"
    return trainer, initial, summary["train_seconds"], summary["iteration"]


# ---- arm 2: ebmkit -----------------------------------------------------------------------------
def run_ebmkit(recipe: Recipe, initial: nn.Module, stats, pipelines, budget: float):
    import ebm

    torch.manual_seed(recipe.s.seed)
    net = copy.deepcopy(initial)
    shape = tuple(recipe.table["x"].shape)
    init = recipe.init_fn(stats)
    buffer = ebm.ReplayBuffer(recipe.objective["buffer"], shape, recipe.objective["reinit"], init)
    sampler = ebm.LangevinDynamics(
        step_size=recipe.step, steps=int(recipe.objective["steps"]), noise_scale=recipe.noise,
        clamp=recipe.box,
    )  # fmt: skip
    cd = ebm.ContrastiveDivergence(sampler, buffer, energy_reg=recipe.s.energy_l2, init_fn=init)
    if recipe.task == "jem":
        energy = ebm.ClassifierEnergy(nn.Sequential(nn.Flatten(), net))  # the spec's flatten(x)
        loss_fn = ebm.JEMLoss(cd, cd_weight=1.0)
    else:
        energy = Negated(net)
        loss_fn = cd

    def loss_of(x, y):
        return (loss_fn(energy, x, y) if recipe.task == "jem" else loss_fn(energy, x)).loss

    return by_the_clock(recipe, net, pipelines, budget, loss_of)


def by_the_clock(recipe: Recipe, net: nn.Module, pipelines, budget: float, loss_of):
    """A peer's loop: `loss_of(x, y)` on the recipe's batches and Adam (the spec's betas, its
    schedule by `lr_at`) until `budget` seconds of iterations; (net, seconds, iterations)."""
    optimizer = torch.optim.Adam(net.parameters(), lr=0.0, betas=recipe.s.betas)
    batches = recipe.batches(pipelines)
    spent, iteration = 0.0, 0
    while spent < budget:
        began = time.perf_counter()
        x, y = next(batches)
        loss = loss_of(x, y)
        for group in optimizer.param_groups:
            group["lr"] = lr_at(recipe.s, iteration, spent / budget)
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        optimizer.step()
        if x.is_cuda:  # the clock stops when the iteration's work has run, not when it is queued
            torch.cuda.synchronize()
        spent += time.perf_counter() - began
        iteration += 1
    return net, spent, iteration


class Negated(nn.Module):
    """E(x) = -f(x) of a scalar network (ebmkit's and torchebm's sign), or for a classifier
    -logsumexp of its logits."""

    def __init__(self, net: nn.Module, classifier: bool = False):
        super().__init__()
        self.net, self.classifier = net, classifier

    def forward(self, x):
        out = self.net(x.flatten(1) if self.classifier else x)
        return -(out.logsumexp(1) if self.classifier else out.squeeze(-1))


# ---- arm 3: torchebm ---------------------------------------------------------------------------
def run_torchebm(recipe: Recipe, initial: nn.Module, stats, pipelines, budget: float):
    from torchebm.core import BaseModel
    from torchebm.losses import PersistentContrastiveDivergence
    from torchebm.samplers import LangevinDynamics

    class Energy(BaseModel):
        def __init__(self, net, classifier):
            super().__init__()
            self.inner = Negated(net, classifier)

        def forward(self, x):
            return self.inner(x)

    torch.manual_seed(recipe.s.seed)
    generator = torch.Generator(device=recipe.device).manual_seed(recipe.s.seed + 1)
    net = copy.deepcopy(initial)
    jem = recipe.task == "jem"
    model = Energy(net, jem)
    # torchebm's Euler-Maruyama: x - step * grad E + noise_scale * sqrt(2 step) xi.
    sampler = LangevinDynamics(
        model, step_size=recipe.step, noise_scale=recipe.noise / math.sqrt(2 * recipe.step),
        clamp=recipe.box, device=recipe.device,
    )  # fmt: skip
    loss_fn = PersistentContrastiveDivergence(
        model, sampler, k_steps=int(recipe.objective["steps"]),
        buffer_size=int(recipe.objective["buffer"]), init_steps=0,
        new_sample_ratio=float(recipe.objective["reinit"]), energy_reg_weight=recipe.s.energy_l2,
        device=recipe.device,
    )  # fmt: skip
    shape = tuple(recipe.table["x"].shape)
    loss_fn.initialize_buffer(shape, generator=generator)
    loss_fn.replay_buffer.copy_(recipe.init_fn(stats)((loss_fn.buffer_size, *shape)))

    def loss_of(x, y):
        loss, _ = loss_fn(x, generator=generator)
        return loss + F.cross_entropy(net(x.flatten(1)), y) if jem else loss

    return by_the_clock(recipe, net, pipelines, budget, loss_of)


# ---- measures ----------------------------------------------------------------------------------
def classify(net: nn.Module, split: dict) -> dict:
    with torch.no_grad():
        probs = net(split["x"].flatten(1)).softmax(-1)
    confidence, guess = probs.max(-1)
    correct = guess == split["labels"]["y"]
    return {
        "accuracy": float(correct.double().mean()),
        "ece": calibration_error(confidence, correct, 20),
    }


def mixture_density(points: torch.Tensor, std: float) -> torch.Tensor:
    """The toy data's true density at `points` [N, 2]: 8 equal Gaussians, std `std` / 1.414."""
    centres = TOY_CENTRES / TOY_SCALE
    sigma = std / TOY_SCALE
    d2 = (points[:, None, :] - centres[None]).pow(2).sum(-1)
    return (torch.exp(-d2 / (2 * sigma**2)) / (2 * math.pi * sigma**2)).mean(1)


def density_scores(net: nn.Module, test: torch.Tensor, std: float) -> dict:
    """TV distance to the true mixture on the grid, and the test NLL under the grid density."""
    axis = torch.linspace(-BOX, BOX, GRID)
    cell = (axis[1] - axis[0]).item() ** 2
    points = torch.cartesian_prod(axis, axis)
    with torch.no_grad():
        f = net(points).squeeze(-1)  # every arm's density is exp(net(x)) / Z
    model = torch.softmax(f, 0)
    truth = mixture_density(points, std) * cell
    truth = truth / truth.sum()
    index = ((test.clamp(-BOX, BOX) + BOX) / (2 * BOX) * (GRID - 1)).round().long()
    flat = index[:, 0] * GRID + index[:, 1]
    return {
        "tv": float(0.5 * (model - truth).abs().sum()),
        "nll": float(-(model[flat] / cell).log().mean()),
    }


def score(recipe: Recipe, net: nn.Module, split: dict) -> dict:
    net = copy.deepcopy(net).cpu()  # the test split is on the CPU
    if recipe.task == "jem":
        return classify(net, split)
    std = float(recipe.program.data.source.arg("std"))
    return density_scores(net, split["x"], std)


# ---- the table ---------------------------------------------------------------------------------
def run_seed(task: str, seed: int, settings: list[str], peers: list[str], device: str = "cpu",
             capture: str = "spec") -> list[dict]:  # fmt: skip
    recipe = Recipe(task, seed, settings, device)
    with tempfile.TemporaryDirectory() as folder:
        trainer, initial, seconds, iterations = run_ebmspec(recipe, Path(folder), capture)
    split = test_split(recipe.table, recipe.dataset, trainer.pipelines, recipe.s.seed)
    rows = [{"library": "ebmspec", "seed": seed, "seconds": seconds, "iterations": iterations,
             **score(recipe, network(trainer.model), split)}]  # fmt: skip
    arms = {"ebmkit": run_ebmkit, "torchebm": run_torchebm}
    for peer in peers:
        net, spent, count = arms[peer](recipe, initial, trainer.stats, trainer.pipelines, seconds)
        rows.append({"library": peer, "seed": seed, "seconds": spent, "iterations": count,
                     **score(recipe, net, split)})  # fmt: skip
    for row in rows:
        row["it_per_s"] = row["iterations"] / row["seconds"]
    return rows


def mean_spread(values: list[float]) -> str:
    if len(values) == 1:
        return f"{values[0]:.4g}"
    return f"{statistics.mean(values):.4g} ± {statistics.stdev(values):.2g}"


def report(task: str, rows: list[dict], peers: list[str], device: str = "cpu") -> None:
    quality = ("accuracy", "ece") if task == "jem" else ("tv", "nll")
    print(f"\n{task}: {SPECS[task].relative_to(ROOT)} --profile cpu, on {device}")
    print(f"{'library':<10}{'seed':>5}{'seconds':>9}{'iters':>7}{'it/s':>8}"
          + "".join(f"{q:>10}" for q in quality))  # fmt: skip
    for r in rows:
        print(f"{r['library']:<10}{r['seed']:>5}{r['seconds']:>9.1f}{r['iterations']:>7}"
              f"{r['it_per_s']:>8.2f}" + "".join(f"{r[q]:>10.4f}" for q in quality))  # fmt: skip
    by = {lib: [r for r in rows if r["library"] == lib] for lib in ("ebmspec", *peers)}
    for lib, mine in by.items():
        parts = [f"it/s {mean_spread([r['it_per_s'] for r in mine])}"]
        parts += [f"{q} {mean_spread([r[q] for r in mine])}" for q in quality]
        print(f"  {lib:<10}" + ", ".join(parts))
    ours = by["ebmspec"]
    for peer in peers:
        theirs = by[peer]
        pairs = list(zip(ours, theirs, strict=True))
        summary(f"{task}_speed_vs_{peer}", [a["it_per_s"] / b["it_per_s"] for a, b in pairs], 3)
        if task == "jem":
            gain = [100 * (a["accuracy"] - b["accuracy"]) for a, b in pairs]
            summary(f"jem_acc_gain_vs_{peer}", gain, 2, "points")
        else:
            gain = [b["tv"] - a["tv"] for a, b in pairs]
            summary(f"toy_tv_gain_vs_{peer}", gain, 4, "peer TV - ebmspec TV")


def summary(name: str, values: list[float], digits: int, unit: str = "") -> None:
    """`name=mean (unit, sd over the seeds; per seed ...)`."""
    sd = "one seed" if len(values) < 2 else f"sd {statistics.stdev(values):.{digits}f}"
    seeds = ", ".join(f"{v:.{digits}f}" for v in values)
    print(f"{name}={statistics.mean(values):.{digits}f} ({unit + ', ' if unit else ''}{sd}; "
          f"per seed {seeds})")  # fmt: skip


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--task", choices=("jem", "toy", "all"), default="all")
    parser.add_argument("--seeds", type=int, default=3)
    parser.add_argument("--iterations", type=int, default=None)
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--peers", default="ebmkit,torchebm")
    parser.add_argument("--set", dest="settings", action="append", default=[])
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--capture", choices=("spec", *CAPTURE_MODES), default="spec")
    parser.add_argument("--smoke", action="store_true", help="a few iterations, one seed")
    args = parser.parse_args(argv)
    if args.capture == "graphs" and not args.device.startswith("cuda"):
        parser.error("--capture graphs (CUDA-graph replay) needs --device cuda")
    torch.set_num_threads(args.threads)
    settings = list(args.settings)
    if args.smoke:
        args.seeds = 1
        settings += [
            "train.iterations=3",
            "train.objective.steps=2",
            "train.objective.buffer=200",
            "train.batch=100",
        ]
    elif args.iterations is not None:
        settings.append(f"train.iterations={args.iterations}")
    settings += ["train.eval_every=1000000000", "train.checkpoint_every=1000000000"]
    peers = [p for p in args.peers.split(",") if p]
    # Adam's first step imports torch._dynamo (seconds): paid here, not by the first arm's clock.
    dummy = nn.Parameter(torch.zeros(1))
    dummy.grad = torch.ones(1)
    torch.optim.Adam([dummy]).step()
    tasks = ("jem", "toy") if args.task == "all" else (args.task,)
    if args.device.startswith("cuda"):
        print(f"device {torch.cuda.get_device_name(args.device)}")
    print(f"threads {args.threads}, load {os.getloadavg()[0]:.2f} (1 min) at the start")
    for task in tasks:
        rows = [
            row
            for seed in range(args.seeds)
            for row in run_seed(task, seed, settings, peers, args.device, args.capture)
        ]
        report(task, rows, peers, args.device)
    print(f"load {os.getloadavg()[0]:.2f} (1 min) at the end")
    return 0


if __name__ == "__main__":
    sys.exit(main())
