"""The linear-chain CRF spec against exact forward-backward and against pytorch-crf, in one run.

In: `specs/crf.ebm` and its data (`specs/data/hmm.csv`, sequences of a known HMM written by
`bench/make_hmm.py`). Out (`bench/textbook.py` prints them beside the other textbook models):

* `crf_marginal_err=`: the largest difference, over 20 test sequences x 20 positions x 3 labels,
  between the per-position marginals p(y_t | x) that ebmspec's coloured Gibbs chains estimate
  (1,000 chains per sequence, 80 sweeps each after 10, the spec's sampler with x clamped) and
  the exact ones by forward-backward (numpy, here) with the learned tables;
  `crf_marginal_mean_err=` the mean.
* `crf_acc_ebmspec=`, `crf_acc_torchcrf=`, `crf_acc_gain=` (points): test accuracy of Viterbi
  decoding (numpy, here, for both) with ebmspec's tables, and with pytorch-crf's (an
  `nn.Embedding` of the symbols as emissions and its `CRF` layer, trained on the exact
  conditional likelihood by Adam, same batch and learning rate, for the same wall time);
  `crf_acc_hmm=` the accuracy of the true HMM's Viterbi path, the ceiling.

The tables are read from the trained model and checked against f on test sequences, so the
scores do not rest on ebmspec's own evaluation code.
"""

from __future__ import annotations

import time
import warnings

import numpy as np
import torch

from ebmspec.runtime.data.encoding import encode
from ebmspec.runtime.model.energy import variable_table
from ebmspec.runtime.sampling.sampler import sampler_table
from ebmspec.runtime.sampling.schedule import run_conditioned

SIZE = {"sequences": 20, "chains": 1000, "sweeps": 90, "burn": 10}


def forward_backward(E: np.ndarray, T: np.ndarray, x: np.ndarray) -> np.ndarray:
    """[L, K] exact marginals p(y_t | x) of p(y | x) ∝ exp(sum E[x_t, y_t] + sum T[y_t, y_t+1])."""
    unary = E[x]  # [L, K]
    length = len(x)
    alpha = np.zeros_like(unary)
    beta = np.zeros_like(unary)
    alpha[0] = unary[0]
    for t in range(1, length):
        alpha[t] = unary[t] + np.logaddexp.reduce(alpha[t - 1][:, None] + T, axis=0)
    for t in range(length - 2, -1, -1):
        beta[t] = np.logaddexp.reduce(T + (unary[t + 1] + beta[t + 1])[None, :], axis=1)
    joint = alpha + beta
    return np.exp(joint - np.logaddexp.reduce(joint, axis=1, keepdims=True))


def viterbi(unary: np.ndarray, T: np.ndarray) -> np.ndarray:
    """The most probable label path given per-position scores [L, K] and transitions T."""
    score, back = unary[0].copy(), []
    for t in range(1, len(unary)):
        total = score[:, None] + T
        back.append(total.argmax(0))
        score = total.max(0) + unary[t]
    path = [int(score.argmax())]
    for pointers in reversed(back):
        path.append(int(pointers[path[-1]]))
    return np.array(path[::-1])


def _codes(values: dict, name: str) -> np.ndarray:
    return values[name].argmax(-1).cpu().numpy()


def crf(train) -> None:
    """`train(spec, folder)` is textbook.py's: (trainer, dataset, seconds)."""
    import tempfile
    from pathlib import Path

    with tempfile.TemporaryDirectory() as folder:
        trainer, dataset, seconds = train("crf.ebm", Path(folder))
    model = trainer.model.eval()
    generator = torch.Generator().manual_seed(0)
    test, _ = encode(trainer.table, dataset.test, trainer.pipelines, generator)
    train_rows, _ = encode(trainer.table, dataset.train, trainer.pipelines, generator)
    E = model.params.get("E", 1)[0].detach().double().numpy()
    T = model.params.get("T", 1)[0].detach().double().numpy()
    x_test, y_test = _codes(test, "x"), _codes(test, "y")
    x_train, y_train = _codes(train_rows, "x"), _codes(train_rows, "y")
    with torch.no_grad():  # the read-off reproduces f
        sample = {n: test[n][:50] for n in ("x", "y")}
        f = model(sample).double().numpy()
    by_hand = [
        E[x, y].sum() + T[y[:-1], y[1:]].sum()
        for x, y in zip(x_test[:50], y_test[:50], strict=True)
    ]
    assert np.allclose(f, by_hand, atol=1e-4), (f[:3], by_hand[:3])

    # Marginals of the coloured Gibbs chains, x clamped, against forward-backward.
    count, chains = SIZE["sequences"], SIZE["chains"]
    program = trainer.program
    x = test["x"][:count].repeat_interleave(chains, 0)
    totals = torch.zeros(count * chains, *test["y"].shape[1:], dtype=torch.float64)

    def record(state, burn=SIZE["burn"]):
        if state.sweeps > burn:
            totals.add_(state.point.values["y"].double())

    start = time.perf_counter()
    with torch.no_grad():
        run_conditioned(
            model, variable_table(program), sampler_table(program.sampler("chain")),
            count * chains, torch.Generator().manual_seed(7), SIZE["sweeps"], {"x": x},
            callback=record,
        )  # fmt: skip
    kept = SIZE["sweeps"] - SIZE["burn"]
    estimate = (totals / kept).reshape(count, chains, *totals.shape[1:]).mean(1).numpy()
    exact = np.stack([forward_backward(E, T, seq) for seq in x_test[:count]])
    error = np.abs(estimate - exact)
    took = time.perf_counter() - start
    print(f"crf: trained {trainer.iteration} iterations in {seconds:.1f} s; marginals of "
          f"{count} x {chains} chains x {kept} sweeps in {took:.1f} s")  # fmt: skip
    print(f"crf_marginal_err={error.max():.4f} crf_marginal_mean_err={error.mean():.5f}")

    def accuracy(decode) -> float:
        paths = np.stack([decode(seq) for seq in x_test])
        return float((paths == y_test).mean())

    ours = accuracy(lambda seq: viterbi(E[seq], T))
    try:
        import make_hmm  # the true model: the ceiling
    except ImportError:
        from bench import make_hmm
    log_e, log_t = np.log(make_hmm.EMISSION).T, np.log(make_hmm.TRANSITION)
    hmm = accuracy(lambda seq: viterbi(log_e[seq], log_t))
    theirs = accuracy(torchcrf_decoder(x_train, y_train, seconds))
    print(f"crf_acc_ebmspec={ours:.4f} crf_acc_torchcrf={theirs:.4f} crf_acc_hmm={hmm:.4f}")
    print(f"crf_acc_gain={100 * (ours - theirs):.2f}")


def torchcrf_decoder(x_train, y_train, seconds: float):
    """pytorch-crf trained on the same rows for `seconds` of wall time (batches of 100, Adam lr
    0.05, as the spec), as a Viterbi decoder of its scores (NaN accuracy without the package)."""
    try:
        from torchcrf import CRF
    except ImportError:
        print("crf_acc_torchcrf: unavailable (pip install pytorch-crf)")
        return lambda seq: np.full(len(seq), -1)
    warnings.filterwarnings("ignore", message="where received a uint8", module="torchcrf")
    torch.manual_seed(0)
    emissions = torch.nn.Embedding(5, 3)
    layer = CRF(3, batch_first=True)
    optimizer = torch.optim.Adam([*emissions.parameters(), *layer.parameters()], lr=0.05)
    xs, ys = torch.as_tensor(x_train), torch.as_tensor(y_train)
    generator = torch.Generator().manual_seed(0)
    steps, start = 0, time.perf_counter()
    while time.perf_counter() - start < seconds:
        rows = torch.randint(0, len(xs), (100,), generator=generator)
        loss = -layer(emissions(xs[rows]), ys[rows], reduction="mean")
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
        steps += 1
    print(f"crf torchcrf: {steps} steps in {seconds:.1f} s")
    E = emissions.weight.detach().double().numpy()
    T = layer.transitions.detach().double().numpy()
    # pytorch-crf adds start and end scores: they go into the first and last positions.
    first = layer.start_transitions.detach().double().numpy()
    last = layer.end_transitions.detach().double().numpy()

    def decode(seq):
        unary = E[seq].copy()
        unary[0] += first
        unary[-1] += last
        return viterbi(unary, T)

    return decode
