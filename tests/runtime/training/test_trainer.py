"""Objectives against brute force: the replay buffer persists x and y, reinit rate, imputation of
missing labels only, the JEM loss equals cross-entropy + the contrastive term, warmup from 0,
data statistics, and short training runs of each objective on the toy data."""

from __future__ import annotations

import math
from pathlib import Path

import pytest
import torch
import torch.nn.functional as F

from ebmspec.api import compile_file
from ebmspec.runtime.data import load_dataset
from ebmspec.runtime.data.encoding import data_stats, encode
from ebmspec.runtime.model.energy import lower_energy, variable_table
from ebmspec.runtime.model.enumeration import configurations
from ebmspec.runtime.model.ops import Var
from ebmspec.runtime.sampling.sampler import sampler_table
from ebmspec.runtime.training.negatives import Negatives, impute
from ebmspec.runtime.training.objectives.jem import jem_loss
from ebmspec.runtime.training.objectives.pcd import contrastive_loss
from ebmspec.runtime.training.trainer import Trainer, warmup_factor
from tests.conftest import ROOT

TOY = ROOT / "specs" / "toy_joint.ebm"


def _program(*settings: str, text: str | None = None, tmp: Path | None = None):
    if text is not None:
        path = tmp / "spec.ebm"
        path.write_text(text)
        return compile_file(path, "smoke", settings)
    return compile_file(TOY, "smoke", settings)


def toy_accuracy(trainer) -> float:
    """Energy-based accuracy of a toy trainer's EMA weights on its test split: the argmax of f
    over the 8 attribute configurations, right attributes averaged over attributes and points."""
    split = trainer.test_split()
    configs = configurations(trainer.table, ("y",))
    n = split["x"].shape[0]
    with torch.no_grad():
        f = trainer.ema({"x": split["x"].repeat(8, 1), "y": configs["y"].repeat_interleave(n, 0)})
    best = configs["y"].argmax(-1)[f.reshape(8, n).argmax(0)]
    return (best == split["labels"]["y"]).float().mean().item()


def _toy_batch(program, size=64, seed=0):
    dataset = load_dataset(program, seed=0)
    generator = torch.Generator().manual_seed(seed)
    raw = dataset.batch(size, generator)
    return encode(variable_table(program), raw, {}, generator)


def test_buffer_writes_back_both_x_and_y_to_the_drawn_slots():
    program = _program()
    table = variable_table(program)
    sampler = sampler_table(program.sampler("joint"))
    model = lower_energy(program)
    negatives = Negatives(sampler, table, steps=3, persistent=True, size=50, reinit=0.0)
    generator = torch.Generator().manual_seed(0)
    negatives.start(generator, None, "cpu")
    before = {n: v.clone() for n, v in negatives.buffer.items()}
    state = generator.get_state()
    final, _ = negatives.draw(model, 20, generator, None, "cpu")
    slots = torch.randperm(50, generator=torch.Generator().manual_seed(0).set_state(state))[:20]
    for name in ("x", "y"):
        assert torch.equal(negatives.buffer[name][slots], final[name])
        untouched = torch.ones(50, dtype=torch.bool)
        untouched[slots] = False
        assert torch.equal(negatives.buffer[name][untouched], before[name][untouched])
    # y moved in some drawn slots (GWG accepts most proposals on a fresh model): it is persisted
    assert not torch.equal(negatives.buffer["y"][slots], before["y"][slots])


def test_conditional_chains_keep_their_labels_and_move_x():
    """jem(generative = conditional): the chains sample p(x | y) for the labels they were drawn
    with; a re-initialised chain draws new labels from the init distribution."""
    program = _program()
    table = variable_table(program)
    sampler = sampler_table(program.sampler("joint"))
    model = lower_energy(program)
    negatives = Negatives(sampler, table, 3, True, size=400, reinit=0.0, kept=("y",))
    generator = torch.Generator().manual_seed(0)
    negatives.start(generator, None, "cpu")
    before = {n: v.clone() for n, v in negatives.buffer.items()}
    final, state = negatives.draw(model, 400, generator, None, "cpu")
    assert len(state.kernels) == 1  # the label block dropped out
    changed = (negatives.buffer["y"] != before["y"]).any()
    assert not changed and torch.equal(final["y"].sort(0).values, before["y"].sort(0).values)
    assert (final["x"] != before["x"]).any(1).all()
    negatives.reinit = 1.0
    final, _ = negatives.draw(model, 400, generator, None, "cpu")
    assert (negatives.buffer["y"] != before["y"]).any()


def test_reinit_rate_replaces_that_fraction_of_chains():
    program = _program()
    table = variable_table(program)
    sampler = sampler_table(program.sampler("joint"))
    negatives = Negatives(sampler, table, steps=0, persistent=True, size=4000, reinit=0.25)
    generator = torch.Generator().manual_seed(1)
    negatives.start(generator, None, "cpu")
    negatives.buffer["x"].fill_(100.0)  # a value no init distribution produces
    final, _ = negatives.draw(lower_energy(program), 4000, generator, None, "cpu")
    fresh = (final["x"] != 100.0).all(1).float().mean().item()
    assert abs(fresh - 0.25) < 4 * math.sqrt(0.25 * 0.75 / 4000)


def test_cd_starts_from_the_init_distribution_every_time():
    program = _program()
    table = variable_table(program)
    sampler = sampler_table(program.sampler("joint"))
    negatives = Negatives(sampler, table, steps=0, persistent=False)
    negatives.start(torch.Generator(), None, "cpu")
    assert negatives.buffer is None
    stats = {"x": {"min": torch.tensor([5.0, 5.0]), "max": torch.tensor([6.0, 6.0])}}
    final, _ = negatives.draw(lower_energy(program), 500, torch.Generator(), stats, "cpu")
    assert final["x"].min() >= 5.0 and final["x"].max() <= 6.0


def test_impute_changes_only_missing_label_elements():
    program = _program()
    table = variable_table(program)
    sampler = sampler_table(program.sampler("joint"))
    values, _ = _toy_batch(program, 200)
    observed = {"y": torch.rand(200, 3, generator=torch.Generator().manual_seed(3)) < 0.5}
    generator = torch.Generator().manual_seed(4)
    filled = impute(lower_energy(program), sampler, table, values, observed, 5, generator, None)
    assert torch.equal(filled["x"], values["x"])
    keep = observed["y"].unsqueeze(-1).expand_as(values["y"])
    assert torch.equal(filled["y"][keep], values["y"][keep])
    assert (filled["y"].sum(-1) == 1).all()
    missing = ~observed["y"]
    changed = (filled["y"].argmax(-1) != values["y"].argmax(-1)) & missing
    assert changed.any()  # missing entries were resampled (placeholders are 0)


def test_configurations_enumerate_joint_values_in_order():
    table = {
        "a": Var("categorical", (), 3),
        "b": Var("binary", (2,)),
    }
    configs = configurations(table, ("a", "b"))
    assert configs["a"].shape == (12, 3) and configs["b"].shape == (12, 2)
    codes = [
        (int(a.argmax()), tuple(int(v) for v in b)) for a, b in zip(*configs.values(), strict=True)
    ]
    assert codes == [(a, (b0, b1)) for a in range(3) for b0 in range(2) for b1 in range(2)]


def _brute_force(model, positive: dict):
    """f at every one of the 8 label vectors, one at a time [B, 8], and each example's own."""
    scores = []
    for code in range(8):
        bits = torch.tensor([(code >> 2) & 1, (code >> 1) & 1, code & 1])
        y = F.one_hot(bits, 2).float().expand(positive["x"].shape[0], 3, 2)
        scores.append(model({"x": positive["x"], "y": y}))
    true = positive["y"].argmax(-1)
    return torch.stack(scores, 1), true[:, 0] * 4 + true[:, 1] * 2 + true[:, 2]


def test_jem_loss_is_cross_entropy_plus_the_contrastive_term():
    program = _program()
    table = variable_table(program)
    model = lower_energy(program, seed=5)
    positive, observed = _toy_batch(program, 32)
    negative, _ = _toy_batch(program, 32, seed=9)
    alpha = 0.7
    loss, log_px, f_neg = jem_loss(model, positive, negative, table, ("y",), alpha, observed)
    scores, index = _brute_force(model, positive)
    ce = F.cross_entropy(scores, index)
    expected = -(torch.logsumexp(scores, 1).mean() - model(negative).mean()) + alpha * ce
    assert loss.item() == pytest.approx(expected.item(), rel=1e-5, abs=1e-6)
    assert log_px.item() == pytest.approx(torch.logsumexp(scores, 1).mean().item(), rel=1e-5)


def test_conditional_jem_loss_is_cross_entropy_plus_log_p_x_given_y():
    """alpha * CE + -(mean f(x, y) - mean f(negatives)); with missing label elements the positive
    term sums exp f over the values they may take."""
    program = _program()
    table = variable_table(program)
    model = lower_energy(program, seed=5)
    positive, observed = _toy_batch(program, 32)
    negative, _ = _toy_batch(program, 32, seed=9)
    alpha = 0.7
    loss, f_pos, _ = jem_loss(
        model, positive, negative, table, ("y",), alpha, observed, generative="conditional"
    )
    scores, index = _brute_force(model, positive)
    ce = F.cross_entropy(scores, index)
    f_true = model(positive)
    expected = -(f_true.mean() - model(negative).mean()) + alpha * ce
    assert loss.item() == pytest.approx(expected.item(), rel=1e-5, abs=1e-6)
    assert f_pos.item() == pytest.approx(f_true.mean().item(), rel=1e-5)
    # The second attribute of the first example is missing: its term is a logsumexp over it.
    seen = torch.ones(32, 3, dtype=torch.bool)
    seen[0, 1] = False
    _, f_pos, _ = jem_loss(
        model, positive, negative, table, ("y",), 0.0, {"y": seen}, generative="conditional"
    )
    other = index[0] ^ 2  # the same code with the second bit flipped
    first = torch.logsumexp(torch.stack([scores[0, index[0]], scores[0, other]]), 0)
    expected = (first + f_true[1:].sum()) / 32
    assert f_pos.item() == pytest.approx(expected.item(), rel=1e-5)


def test_jem_loss_with_both_generative_terms():
    """generative = both: alpha * CE - (mean log p~(x) - mean f(joint chains))
    - (mean f(x, y) - mean f(label-keeping chains))."""
    program = _program()
    table = variable_table(program)
    model = lower_energy(program, seed=5)
    positive, observed = _toy_batch(program, 32)
    joint, _ = _toy_batch(program, 32, seed=9)
    kept, _ = _toy_batch(program, 32, seed=11)
    loss, _, f_neg = jem_loss(
        model, positive, joint, table, ("y",), 0.5, observed, generative="both",
        kept_negative=kept,
    )  # fmt: skip
    scores, index = _brute_force(model, positive)
    log_px = torch.logsumexp(scores, 1)
    expected = -(log_px.mean() - model(joint).mean()) - (
        model(positive).mean() - model(kept).mean()
    )
    expected = expected + 0.5 * F.cross_entropy(scores, index)
    assert loss.item() == pytest.approx(expected.item(), rel=1e-5, abs=1e-6)
    assert f_neg.item() == pytest.approx(torch.cat([model(joint), model(kept)]).mean().item())


def test_contrastive_loss_and_its_regularisers():
    program = _program()
    table = variable_table(program)
    model = lower_energy(program, seed=2)
    positive, _ = _toy_batch(program, 16)
    negative, _ = _toy_batch(program, 16, seed=7)
    loss, f_pos, f_neg = contrastive_loss(model, positive, negative, table, 0.3, 0.5)
    fp, fn = model(positive), model(negative)
    x = positive["x"].clone().requires_grad_(True)
    (grad,) = torch.autograd.grad(model({**positive, "x": x}).sum(), x)
    expected = -(fp.mean() - fn.mean()) + 0.3 * (fp.pow(2).mean() + fn.pow(2).mean())
    expected = expected + 0.5 * 0.5 * grad.pow(2).sum(1).mean()
    assert loss.item() == pytest.approx(expected.item(), rel=1e-5)
    assert f_pos.item() == pytest.approx(fp.mean().item(), rel=1e-5)


def test_warmup_is_linear_from_zero():
    assert warmup_factor(0, 100) == pytest.approx(0.01)
    assert warmup_factor(49, 100) == pytest.approx(0.5)
    assert warmup_factor(99, 100) == 1.0 and warmup_factor(5000, 100) == 1.0
    assert warmup_factor(0, 0) == 1.0


def test_data_stats_skip_missing_labels():
    table = {"y": Var("categorical", (2,), 3), "x": Var("real", (2,))}
    y = F.one_hot(torch.tensor([[0, 1], [0, 2], [1, 2]]), 3).float()
    observed = {"y": torch.tensor([[True, False], [True, False], [False, False]])}
    x = torch.tensor([[0.0, 1.0], [2.0, -1.0], [1.0, 0.0]])
    stats = data_stats(table, {"y": y, "x": x}, observed)
    assert torch.allclose(stats["y"]["freq"][0], torch.tensor([1.0, 0.0, 0.0]))
    assert torch.allclose(stats["y"]["freq"][1], torch.full((3,), 1 / 3))  # none observed
    assert torch.equal(stats["x"]["min"], torch.tensor([0.0, -1.0]))
    assert torch.equal(stats["x"]["max"], torch.tensor([2.0, 1.0]))


@pytest.mark.parametrize("objective", ["pcd", "cd", "jem"])
def test_each_objective_trains_on_the_missing_label_toy(tmp_path, objective):
    """A short run per objective on toy data with missing attributes: finite losses, the EMA
    moves towards the weights, and energy-based accuracy beats chance clearly."""
    text = TOY.read_text()
    text = text.replace(
        'data toy(attributes = "multi")', 'data toy(attributes = "multi", missing = true)'
    )
    call = {
        "pcd": "pcd(sampler = joint, steps = 5, buffer = 2000, reinit = 0.05)",
        "cd": "cd(sampler = joint, steps = 5)",
        "jem": "jem(sampler = joint, steps = 5, buffer = 2000, reinit = 0.05, alpha = 1)",
    }[objective]
    text = text.replace("pcd(sampler = joint, steps = 20, buffer = 10000, reinit = 0.05)", call)
    assert call in text
    program = _program(
        "train.iterations=150",
        "train.batch=200",
        "train.optimizer.lr=0.001",
        "train.optimizer.warmup=20",
        "train.eval_every=100000",
        "train.checkpoint_every=100000",
        text=text,
        tmp=tmp_path,
    )
    dataset = load_dataset(program, seed=0)
    assert (dataset.train["y"] == -1).any()
    trainer = Trainer(program, dataset, tmp_path / "run")
    trainer.start(resume=False)
    summary = trainer.run()
    assert summary["complete"] and summary["rollbacks"] == 0
    accuracy = toy_accuracy(trainer)
    assert accuracy > 0.75, accuracy


@pytest.mark.parametrize("generative", ["marginal", "conditional"])
def test_jem_loss_honours_the_gradient_penalty(generative):
    """grad_penalty adds grad_penalty * mean 1/2 |grad_x of the data term|^2 (log p~(x) for the
    marginal term, f(x, y) for the conditional one), as pcd's loss does."""
    program = _program()
    table = variable_table(program)
    model = lower_energy(program, seed=5).double()  # the penalty is small beside the loss
    positive, observed = _toy_batch(program, 32)
    negative, _ = _toy_batch(program, 32, seed=9)
    positive = {n: v.double() for n, v in positive.items()}
    negative = {n: v.double() for n, v in negative.items()}
    args = (model, positive, negative, table, ("y",), 0.7, observed)
    plain, _, _ = jem_loss(*args, generative=generative)
    penalised, _, _ = jem_loss(*args, generative=generative, grad_penalty=0.4)
    x = positive["x"].clone().requires_grad_(True)
    if generative == "marginal":
        data_term = torch.logsumexp(_brute_force(model, {**positive, "x": x})[0], 1)
    else:
        data_term = model({**positive, "x": x})
    (grad,) = torch.autograd.grad(data_term.sum(), x)
    expected = 0.4 * 0.5 * grad.pow(2).sum(1).mean()
    assert (penalised - plain).item() == pytest.approx(expected.item(), rel=1e-9)
    assert expected.item() > 1e-6
