"""Parallel tempering (`temperatures = [...]` in a sampler; runtime/sampling/tempering.py): on a
bimodal Ising torus the b = 1 chains match the exact law where the same kernel alone, given as
many energy evaluations, stays in the modes it started in (the negative control); the swap rule
leaves the tempered product invariant (exact two-site check); checks, `--set`, training chains
and the emitted module."""

from __future__ import annotations

import itertools

import pytest
import torch

from ebmspec.api import compile_spec
from ebmspec.diagnostics import UserError
from ebmspec.runtime.model.energy import lower_energy, variable_table
from ebmspec.runtime.sampling.sampler import sampler_table
from ebmspec.runtime.sampling.schedule import run_conditioned
from ebmspec.source import Source
from tests.codegen.harness import assert_same_chains, compare_sampling
from tests.runtime.sampling.ground_truth import iid_floor, total_variation

BIMODAL = """
model bimodal "3 x 3 Ising torus, J = 1, field 0.1: two modes 20:1 apart"
variables { s : binary[3, 3] }
energy {
  z = 2 * s - 1
  return sum(z * (roll(z, shift = 1, axis = 0) + roll(z, shift = 1, axis = 1))) + 0.1 * sum(z)
}
sampler plain { update s with gibbs }
sampler tempered {
  update s with gibbs
  temperatures = [1, 0.75, 0.55, 0.4, 0.3]
}
"""


def _run(program, model, name: str, chains: int, sweeps: int, seed: int = 1):
    with torch.no_grad():
        return run_conditioned(model, variable_table(program),
                               sampler_table(program.sampler(name)), chains,
                               torch.Generator().manual_seed(seed), sweeps)  # fmt: skip


def _exact_and_counts(program, model, values):
    every = torch.tensor(list(itertools.product((0, 1), repeat=9))).float().reshape(-1, 3, 3)
    with torch.no_grad():
        exact = torch.softmax(model({"s": every}).double(), 0)
    codes = (values.reshape(len(values), -1).long() * (2 ** torch.arange(8, -1, -1))).sum(1)
    counts = torch.bincount(codes, minlength=512).double()
    return exact.numpy(), counts.numpy()


def test_tempering_samples_the_exact_law_where_one_temperature_cannot():
    program = compile_spec(Source("bimodal.ebm", BIMODAL))
    model = lower_energy(program)
    chains, sweeps = 3000, 100
    state, target = _run(program, model, "tempered", chains, sweeps)
    exact, counts = _exact_and_counts(program, model, state.point.values["s"])
    floor = iid_floor(exact[None], chains, seed=0)
    tv = total_variation(counts[None], exact[None])
    # the same kernel with as many energy evaluations (5 replicas: 5 times the sweeps)
    plain, _ = _run(program, model, "plain", chains, sweeps * 5)
    _, plain_counts = _exact_and_counts(program, model, plain.point.values["s"])
    plain_tv = total_variation(plain_counts[None], exact[None])
    assert tv < 1.5 * floor, (tv, floor)
    assert plain_tv > 10 * floor, (plain_tv, floor)
    rates = target.swap_rates
    assert rates.shape == (4,) and bool((rates > 0.2).all()) and bool((rates < 1).all())
    assert state.point.values["s"].shape == (chains, 3, 3)
    assert state.kernels[0].accepted.shape == (chains,)


def test_a_swap_leaves_the_tempered_product_invariant():
    """One site, two temperatures: from the exact product distribution, the swap step alone
    keeps it (the probability of every joint state, by exhaustive weighting)."""
    from ebmspec.runtime.sampling.tempering import Tempering

    levels = (1.0, 0.4)
    f = {0: 0.0, 1: 1.7}

    def energy(values):
        return values["s"][:, 0] * f[1]

    states = [(a, b) for a in (0, 1) for b in (0, 1)]
    weight = {st: torch.exp(torch.tensor(levels[0] * f[st[0]] + levels[1] * f[st[1]]))
              for st in states}  # fmt: skip
    total = sum(weight.values())
    after = dict.fromkeys(states, 0.0)
    draws = 40000
    for st in states:
        tempering = Tempering(None, energy, levels, draws)
        values = {"s": torch.tensor([[st[0]]] * draws + [[st[1]]] * draws).float()}
        state = _State(values)
        moved = tempering.swap(state, torch.Generator().manual_seed(0), 0).point.values["s"]
        cold, hot = moved[:draws, 0], moved[draws:, 0]
        for end in states:
            share = float(((cold == end[0]) & (hot == end[1])).double().mean())
            after[end] += float(weight[st] / total) * share
    for st in states:
        assert abs(after[st] - float(weight[st] / total)) < 0.01


class _State:
    """The part of a ChainState `Tempering.swap` reads and replaces."""

    def __init__(self, values):
        from ebmspec.runtime.sampling.kernels.base import Point

        self.point = Point(values, None, None)

    def _replace(self, point):
        return _State(point.values)


@pytest.mark.parametrize(
    ("line", "message"),
    [
        ("temperatures = [1]", "needs at least two"),
        ("temperatures = [0.9, 0.5]", "must start at 1"),
        ("temperatures = [1, 0.5, 0.6]", "must decrease strictly"),
        ("temperatures = [1, 0.5, 0]", "must stay above 0"),
    ],
)
def test_bad_temperatures_are_located_errors(line, message):
    text = BIMODAL.replace("temperatures = [1, 0.75, 0.55, 0.4, 0.3]", line)
    with pytest.raises(UserError) as caught:
        compile_spec(Source("bimodal.ebm", text))
    (diagnostic,) = caught.value.diagnostics
    assert diagnostic.code == "E411" and message in diagnostic.message
    start = text.index(line) + line.index("[")
    assert diagnostic.span.start == start


def test_temperatures_by_set_and_in_the_emitted_module(tmp_path):
    program = compile_spec(Source("bimodal.ebm", BIMODAL), None,
                           ["sampler.plain.temperatures=[1, 0.5]"])  # fmt: skip
    assert program.sampler("plain").temperatures == (1.0, 0.5)
    cases = [{"chains": 6, "sweeps": 3, "seed": 2, "sampler": "tempered"},
             {"chains": 4, "sweeps": 2, "seed": 3, "sampler": "plain"}]  # fmt: skip
    result = compare_sampling(program, tmp_path, cases, spec_name="bimodal.ebm")
    for expected, actual in zip(result.expected, result.actual, strict=True):
        assert_same_chains(expected, actual)


def test_training_chains_can_be_tempered(cli, tmp_path):
    spec = _tempered_ising(tmp_path, (1, 0.6))
    status, out, err = cli("train", str(spec), "--set", "train.iterations=5", "--set",
                           "train.batch=100", "--out", "runs/r", "--device", "cpu",
                           cwd=tmp_path)  # fmt: skip
    assert status == 0, err
    assert "finished at iteration 5" in out


def _tempered_ising(tmp_path, temperatures=(1, 0.6, 0.3)):
    """inverse_ising.ebm trained by pcd on a `tempered` Gibbs sampler."""
    from tests.conftest import ROOT

    levels = ", ".join(f"{t:g}" for t in temperatures)

    text = (ROOT / "specs" / "inverse_ising.ebm").read_text()
    text = (
        text.replace('"data/', f'"{ROOT}/specs/data/').replace(
            "objective  = nll()", "objective  = pcd(sampler = tempered, steps = 2, buffer = 200)"
        )
        + f"\nsampler tempered {{\n  update s with gibbs\n  temperatures = [{levels}]\n}}\n"
    )
    spec = tmp_path / "ising.ebm"
    spec.write_text(text)
    return spec


def test_persistent_tempered_chains_keep_their_hot_replicas_and_resume_bit_for_bit(tmp_path):
    """pcd's buffer keeps the replicas at b < 1 beside the b = 1 chains (slot-aligned), they are
    checkpointed, a resumed run ends where an uninterrupted one does, and the log has the swap
    rates of each neighbouring pair."""
    import json

    from ebmspec.api import compile_file
    from ebmspec.runtime.data import load_dataset
    from ebmspec.runtime.training.trainer import Trainer

    spec = _tempered_ising(tmp_path)
    settings = ["train.iterations=6", "train.batch=50", "train.checkpoint_every=3",
                "train.eval_every=1000"]  # fmt: skip
    program = compile_file(spec, None, settings)
    dataset = load_dataset(program, spec.parent, 0)

    def trainer(folder, resume=False):
        t = Trainer(program, dataset, tmp_path / folder)
        t.start(resume=resume)
        return t

    whole = trainer("whole")
    chains = whole.shares[0].negatives
    whole.step()
    assert chains.hot["s"].shape == (2 * 200, *chains.buffer["s"].shape[1:])
    for _ in range(2):
        whole.step()
    # After three draws of 50 of 200 slots, some hot replicas have left their b = 1 slots' states
    # (they started as copies); the b = 1 buffer is one of the chains they swap with.
    assert not torch.equal(chains.hot["s"][:200], chains.buffer["s"])
    whole.run()
    log = [
        json.loads(line)
        for line in (tmp_path / "whole" / "metrics.jsonl").read_text().split("\n")
        if line
    ]
    rates = [entry["accept"] for entry in log if "accept" in entry][-1]
    assert set(rates) == {"gibbs(s)", "swap(1, 0.6)", "swap(0.6, 0.3)"}
    assert 0 < rates["swap(1, 0.6)"] <= 1 and 0 < rates["swap(0.6, 0.3)"] <= 1

    cut = trainer("cut")
    for _ in range(3):
        cut.step()
    cut.checkpoints.save()
    resumed = trainer("cut", resume=True)
    assert resumed.iteration == 3
    resumed.run()
    for name in ("buffer", "hot"):
        for key, value in getattr(whole.shares[0].negatives, name).items():
            assert torch.equal(value, getattr(resumed.shares[0].negatives, name)[key]), (name, key)
