"""Semi-supervised training (`labels_per_class`, `label_entropy`): which labels are kept, the
entropy term, misuse errors, and a toy run that learns from 3 labelled points per class.

The kept rows are `per_class` of each class (a class = one joint label value), a seeded choice;
the batch's own labels count as missing (it feeds the generative term), a batch of the kept rows
feeds alpha * CE, and beta * mean H(p(y | x)) is added on the batch.
"""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F

from ebmspec.api import compile_file, compile_spec
from ebmspec.diagnostics import UserError
from ebmspec.runtime.data import load_dataset
from ebmspec.runtime.model.energy import lower_energy, variable_table
from ebmspec.runtime.model.enumeration import (
    configurations,
    label_entropy,
    label_log_likelihood,
    labelled_rows,
    marginal_energy,
)
from ebmspec.runtime.training.trainer import Trainer
from ebmspec.source import Source
from tests.conftest import ROOT
from tests.runtime.training.test_trainer import toy_accuracy

TOY = ROOT / "specs" / "toy_joint.ebm"


def test_labelled_rows_keep_k_per_class_by_a_seeded_choice():
    y = torch.tensor([0] * 40 + [1] * 30 + [2] * 28 + [3] * 2)
    train = {"x": torch.randn(100, 2), "y": y}
    kept = labelled_rows(train, ("y",), 5, torch.Generator().manual_seed(1))
    assert torch.bincount(y[kept], minlength=4).tolist() == [5, 5, 5, 2]
    assert torch.equal(kept, labelled_rows(train, ("y",), 5, torch.Generator().manual_seed(1)))
    assert not torch.equal(kept, labelled_rows(train, ("y",), 5, torch.Generator().manual_seed(2)))
    # a class is a joint value of several label fields (the toy's three attributes)
    bits = torch.tensor([[0, 0], [0, 1], [1, 0], [1, 1]]).repeat(10, 1)
    both = labelled_rows(
        {"a": bits[:, :1], "b": bits[:, 1]}, ("a", "b"), 3, torch.Generator().manual_seed(0)
    )
    assert len(both) == 12


def test_label_entropy_is_the_entropy_of_p_y_given_x():
    program = compile_file(TOY)
    model = lower_energy(program, seed=0)
    table = variable_table(program)
    x = torch.randn(5, 2)
    y = F.one_hot(torch.zeros(5, 3, dtype=torch.long), 2).float()
    got = label_entropy(model, {"x": x, "y": y}, table, ("y",))
    configs = configurations(table, ("y",))
    with torch.no_grad():
        logits = torch.stack([model({"x": x, "y": c.expand(5, 3, 2)}) for c in configs["y"]], 1)
    p = torch.softmax(logits, 1)
    assert torch.allclose(got, -(p * p.log()).sum(1), atol=1e-6)


@pytest.mark.parametrize(
    ("objective", "model", "message"),
    [
        ("pcd(sampler = joint)", "toy", "`pcd` does not do"),
        ("jem(sampler = joint, label = y)", "unlabelled", "takes none from it"),
    ],
)
def test_semi_supervised_misuse_is_a_located_error(objective, model, message):
    text = TOY.read_text().split("profile cpu")[0]
    text = text.replace(
        "pcd(sampler = joint, steps = 20, buffer = 10000, reinit = 0.05)", objective
    )
    text = text.replace("  ema        = 0.99\n", "  ema        = 0.99\n  labels_per_class = 10\n")
    if model == "unlabelled":
        text = text.replace("y : categorical(2)[3]    #", "y : categorical(2)[3] latent #")
        text = text.split("evaluate {")[0]
    with pytest.raises(UserError) as caught:
        compile_spec(Source("semi.ebm", text))
    rendered = str(caught.value)
    assert "E506" in rendered and message in rendered, rendered


def test_three_labels_per_class_teach_the_toy(tmp_path):
    """jem on the toy with 3 labelled points per attribute configuration (24 of 10,000): the
    generative term sees every point, the cross-entropy the 24; the attributes are learned."""
    program = compile_file(
        TOY,
        "cpu",
        [
            "train.labels_per_class=3",
            "train.iterations=150",
            "train.batch=200",
            "train.objective.steps=5",
            "train.eval_every=100000",
            "train.checkpoint_every=100000",
        ],
    )
    dataset = load_dataset(program, seed=0)
    trainer = Trainer(program, dataset, tmp_path / "run")
    assert len(trainer.labelled) == 24
    trainer.start(resume=False)
    summary = trainer.run()
    assert summary["complete"] and summary["rollbacks"] == 0
    accuracy = toy_accuracy(trainer)
    assert accuracy > 0.9, accuracy


def test_label_enumerating_losses_reach_every_parameter():
    """label_scores runs the label-free part once (folding x's share of the first layer into a
    bias); the losses built on it - log p(y | x) of the labelled rows, the entropy term, VERA's
    log p~(x) - must still train that part. They used not to: it ran without autograd, so only
    the weights after the split learned. Their gradients equal those of plain enumeration."""
    program = compile_file(TOY)
    model = lower_energy(program, seed=0)
    table = variable_table(program)
    generator = torch.Generator().manual_seed(0)
    count = 6
    x = torch.randn(count, 2, generator=generator)
    y = F.one_hot(torch.randint(0, 2, (count, 3), generator=generator), 2).float()
    values = {"x": x, "y": y}
    configs = configurations(table, ("y",))["y"]  # [C, 3, 2]
    true = (configs.reshape(1, -1, 6) == y.reshape(count, 1, 6)).all(-1).float().argmax(1)

    def plain() -> torch.Tensor:  # [B, C] f(x, y) for every y through the whole network
        rows = [model({"x": x, "y": c.expand(count, 3, 2)}) for c in configs]
        return torch.stack(rows, 1)

    cases = {
        "log p(y|x)": (
            lambda: -label_log_likelihood(model, values, table, ("y",), {}).mean(),
            lambda: -torch.log_softmax(plain(), 1)[torch.arange(count), true].mean(),
        ),
        "entropy": (
            lambda: label_entropy(model, values, table, ("y",)).mean(),
            lambda: -(torch.softmax(plain(), 1) * torch.log_softmax(plain(), 1)).sum(1).mean(),
        ),
        "log p~(x)": (
            lambda: marginal_energy(model, values, table, ("y",)).mean(),
            lambda: torch.logsumexp(plain(), 1).mean(),
        ),
    }
    for case, (library, reference) in cases.items():
        grads = []
        for loss_of in (library, reference):
            model.zero_grad()
            loss_of().backward()
            grads.append({n: p.grad.clone() for n, p in model.named_parameters()})
        for name, expected in grads[1].items():
            assert expected.abs().sum() > 0, (case, name)
            torch.testing.assert_close(grads[0][name], expected, rtol=1e-4, atol=1e-6)
