"""Collapsed negative chains (passes/collapse.py, `Negatives(collapsed=...)`, jem's default).

Exactness: on the box model (tests/runtime/sampling/ground_truth.py: x in [-2, 2]^2, y in 4
categories, f = mlp(concat(x, onehot y)), its law exact by the midpoint rule), chains that sum y
out and move x by MALA on log sum_y exp f must draw x from the exact marginal p(x) = sum_y p(x, y)
- the law of the joint chain's x, which the same test checks too. Negative controls: the same
test fails a chain on max_y f (a plausible slip for logsumexp) and one that keeps each chain's
initial label (x from p(x | y0), not p(x)). Then: where the planner collapses, what the loss
reads, and a short JEM run with collapsed chains.
"""

from __future__ import annotations

import math
import tempfile
from pathlib import Path

import numpy as np
import pytest
import torch

from ebmspec.api import compile_file
from ebmspec.passes.collapse import collapse_plan
from ebmspec.runtime.model import enumeration
from ebmspec.runtime.model.energy import variable_table
from ebmspec.runtime.model.enumeration import MarginalEnergy, label_scores
from ebmspec.runtime.sampling.sampler import sampler_table
from ebmspec.runtime.training.negatives import Negatives
from ebmspec.runtime.training.objectives.jem import jem_loss
from tests.runtime.sampling import ground_truth as gt

ROOT = Path(__file__).resolve().parents[3]
CHAINS = 10_000
SWEEPS = 300


def x_marginal(collapsed=("y",), discrete: str | None = "gwg", kept=()) -> tuple[float, float]:
    """(TV of the chains' x over the box model's 6 x 6 bins against the exact p(x), the i.i.d.
    floor of that TV) after SWEEPS sweeps of CHAINS fresh chains."""
    program, energy = gt.build("box", discrete, "mala(step = 0.1)", SWEEPS)
    table = variable_table(program)
    chains = Negatives(
        sampler_table(program.sampler("main")), table, SWEEPS, persistent=False, kept=kept,
        collapsed=collapsed,
    )  # fmt: skip
    values, _ = chains.draw(energy, CHAINS, torch.Generator().manual_seed(0), {}, "cpu")
    if collapsed:
        assert set(values) == {"x"}  # y is summed out, not drawn
        assert [k.name for k, _ in chains.schedule.blocks] == ["mala"]
    bins = gt._bins(values["x"], gt.BOX_EDGES)
    counts = np.bincount((bins[:, 0] * 6 + bins[:, 1]).numpy(), minlength=36)[None]
    probs = gt.truth("box", energy, {}).probs.reshape(4, 36).sum(0)[None]
    return gt.total_variation(counts, probs), gt.iid_floor(probs, CHAINS, seed=0)


def test_collapsed_chain_samples_the_exact_x_marginal():
    tv, floor = x_marginal()
    assert tv < gt.TV_FACTOR * floor, (tv, floor)


def test_joint_chain_samples_the_same_x_marginal():
    tv, floor = x_marginal(collapsed=(), discrete="gwg")
    assert tv < gt.TV_FACTOR * floor, (tv, floor)


def test_max_instead_of_logsumexp_fails_the_same_test(monkeypatch):
    real = torch.logsumexp

    def maximum(values, dim, *args, **kwargs):
        return values.max(dim).values

    monkeypatch.setattr(enumeration.torch, "logsumexp", maximum)
    try:
        tv, floor = x_marginal()
    finally:
        monkeypatch.setattr(enumeration.torch, "logsumexp", real)
    assert tv > 2 * gt.TV_FACTOR * floor, (tv, floor)


def test_labels_kept_from_the_init_fail_the_same_test():
    # Each chain keeps its initial label: x then follows p(x | y0) with y0 uniform, not p(x).
    tv, floor = x_marginal(collapsed=(), discrete=None, kept=("y",))
    assert tv > gt.TV_FACTOR * floor, (tv, floor)  # measured: 1.94 x the floor


def test_marginal_energy_is_logsumexp_of_the_label_scores():
    program = compile_file(ROOT / "specs" / "mnist_jem.ebm", "smoke", [])
    from ebmspec.runtime.model.energy import lower_energy

    model = lower_energy(program, seed=0)
    table = variable_table(program)
    x = torch.randn(7, 1, 28, 28, generator=torch.Generator().manual_seed(3))
    marginal = MarginalEnergy(model, table, ("y",))
    assert marginal.parts is not None  # the classifier's logits run once per chain
    expected = torch.logsumexp(label_scores(model, {"x": x}, table, ("y",)), 1)
    torch.testing.assert_close(marginal({"x": x}), expected)
    (block,) = model.blocks.values()
    torch.testing.assert_close(marginal({"x": x}), block.net(x.flatten(1)).logsumexp(1))


def test_collapsed_jem_loss_reads_the_marginal_at_the_negatives():
    program = compile_file(ROOT / "specs" / "mnist_jem.ebm", "smoke", [])
    from ebmspec.runtime.model.energy import lower_energy

    model = lower_energy(program, seed=0)
    table = variable_table(program)
    generator = torch.Generator().manual_seed(4)
    x = torch.randn(6, 1, 28, 28, generator=generator)
    y = torch.nn.functional.one_hot(torch.arange(6) % 10, 10).float()
    negative = {"x": torch.randn(6, 1, 28, 28, generator=generator)}
    loss, f_pos, f_neg = jem_loss(
        model, {"x": x, "y": y}, negative, table, ("y",), 1.0, {}, collapsed=True
    )
    (block,) = model.blocks.values()
    logits = block.net(x.flatten(1))
    log_px = logits.logsumexp(1)
    neg = block.net(negative["x"].flatten(1)).logsumexp(1)
    log_py = (logits * y).sum(1) - log_px
    expected = -(log_px.mean() - neg.mean()) - log_py.mean()
    torch.testing.assert_close(loss, expected)
    torch.testing.assert_close(f_neg, neg.detach().mean())


@pytest.mark.parametrize(
    ("settings", "collapses"),
    [
        ((), True),
        (("train.objective.collapse=false",), False),
        (("train.objective.generative=conditional",), False),
        (("train.objective=pcd(sampler = joint, steps = 20, buffer = 1000)",), False),
    ],
)
def test_planner_collapses_jem_marginal_chains(settings, collapses):
    program = compile_file(ROOT / "specs" / "mnist_jem.ebm", None, list(settings))
    plan = collapse_plan(program)
    assert (plan is not None) is collapses
    if collapses:
        assert plan.labels == ("y",) and plan.values == 10 and plan.dropped == (0,)
        assert plan.head_macs * plan.values <= plan.root_macs


def test_planner_keeps_joint_chains_when_listing_labels_costs_networks():
    # onehot(y) feeds the first layer: summing y out costs 10 network evaluations per step.
    program = compile_file(
        ROOT / "specs" / "mnist_joint.ebm",
        None,
        ["train.objective=jem(sampler = joint, steps = 20, buffer = 1000)"],
    )
    assert collapse_plan(program) is None


# scikit-learn's 8 x 8 digits (the dev extra), so the default run needs no MNIST package
DIGITS_JEM = """model digits_jem
data digits()
variables {
  x : real[1, 8, 8] in [0, 16]
  y : categorical(10)
}
energy {
  logits = mlp(flatten(x), hidden = [256, 128], out = 10, act = elu)
  return logits[y]
}
sampler joint {
  init x ~ normal_data
  init y ~ data_frequency
  update y with gwg
  update x with langevin(step = 1, noise = 0.01)
}
train {
  objective = jem(sampler = joint, steps = 5, buffer = 100)
  batch = 20
  iterations = 4
}
"""


def test_jem_trains_with_collapsed_chains_and_resumes(tmp_path):
    from ebmspec.runtime.data import load_dataset
    from ebmspec.runtime.training.trainer import Trainer

    spec = tmp_path / "digits_jem.ebm"
    spec.write_text(DIGITS_JEM)
    program = compile_file(spec, None, [])
    assert collapse_plan(program) is not None
    dataset = load_dataset(program, spec.parent, 0)
    with tempfile.TemporaryDirectory() as folder:
        trainer = Trainer(program, dataset, Path(folder) / "run")
        trainer.start(resume=False)
        negatives = trainer.shares[0].negatives
        assert negatives.collapsed == ("y",) and set(negatives.buffer) == {"x"}
        metrics = trainer.step()
        assert math.isfinite(float(metrics["loss"])) and len(metrics["accept"]) == 1
        summary = trainer.run()
        assert summary["complete"]
        again = Trainer(program, dataset, Path(folder) / "run")
        again.start(resume=True)
        assert set(again.shares[0].negatives.buffer) == {"x"}
        torch.testing.assert_close(
            again.shares[0].negatives.buffer["x"], trainer.shares[0].negatives.buffer["x"]
        )
