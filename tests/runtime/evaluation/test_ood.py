"""OOD metrics against scikit-learn (a test-only dependency) and paper 003's convention, the
generated OOD sets, and the `ood` report of `ebmspec eval` end to end on the toy.

* `auroc` equals roc_auc_score (ID positive) and `average_precision` equals
  average_precision_score to 1e-9 on random scores with many ties;
* paper 003's AUC-PR (OOD positive, score -s): a perfectly inverted detector on balanced sets
  gives 1 - ln 2 = 30.69 % (for large sets), a perfect one 100 %;
* the OOD sets have the test set's shape; `constant` inputs are constant per input;
* a trained toy's log p(x) tells its test points from uniform noise.
"""

from __future__ import annotations

import math

import pytest
import torch

from ebmspec.runtime.evaluation.ood import (
    auc_pr_ood_positive,
    auroc,
    average_precision,
    ood_sets,
)

sklearn_metrics = pytest.importorskip("sklearn.metrics")


@pytest.mark.parametrize("seed", range(5))
def test_metrics_match_scikit_learn_with_ties(seed):
    generator = torch.Generator().manual_seed(seed)
    positive = torch.randint(0, 12, (300,), generator=generator).double() / 4  # many ties
    negative = torch.randint(0, 9, (200 + 37 * seed,), generator=generator).double() / 4
    labels = torch.cat([torch.ones(300), torch.zeros(len(negative))])
    scores = torch.cat([positive, negative])
    expected = sklearn_metrics.roc_auc_score(labels.numpy(), scores.numpy())
    assert auroc(positive, negative) == pytest.approx(expected, abs=1e-9)
    expected_ap = sklearn_metrics.average_precision_score(labels.numpy(), scores.numpy())
    assert average_precision(labels, scores) == pytest.approx(expected_ap, abs=1e-9)
    # paper 003: OOD (here `negative`) is the positive class, scored by -s
    flipped = sklearn_metrics.average_precision_score(1 - labels.numpy(), -scores.numpy())
    assert auc_pr_ood_positive(positive, negative) == pytest.approx(flipped, abs=1e-9)


def test_paper_003s_auc_pr_bounds():
    inside = torch.arange(10000, dtype=torch.float64)
    outside = inside + 10000  # every OOD input scores as more in-distribution: inverted
    assert auc_pr_ood_positive(inside, outside) == pytest.approx(1 - math.log(2), abs=1e-4)
    assert auc_pr_ood_positive(outside, inside) == pytest.approx(1.0)
    assert auroc(outside, inside) == 1.0 and auroc(inside, outside) == 0.0


def test_ood_sets_have_the_test_shape_and_their_kind():
    x = torch.randn(100, 1, 4, 4) * 3 + 1
    sets = ood_sets({"x": x}, ["noise", "constant", "uniform"], torch.Generator().manual_seed(0))
    for drawn in sets.values():
        assert drawn["x"].shape == x.shape
    constant = sets["constant"]["x"].reshape(100, -1)
    assert (constant == constant[:, :1]).all()
    assert (constant >= x.min()).all() and (constant <= x.max()).all()
    uniform = sets["uniform"]["x"]
    assert (uniform >= x.amin(0)).all() and (uniform <= x.amax(0)).all()


def test_the_report_has_a_row_per_metric_score_and_set():
    """`ood` lines of the evaluate block, through `evaluation.evaluate`: one row per (metric,
    score, set). The energy is a known density, N(0, I) in x with a label term, and the test
    inputs come from it, so log p(x) tells them from uniform inputs over their box."""
    from ebmspec.api import compile_spec
    from ebmspec.runtime.evaluation import evaluate as evaluation
    from ebmspec.runtime.model.energy import lower_energy
    from ebmspec.source import Source

    text = """model m

variables {
  x : real[2]
  y : categorical(3)
}

energy {
  return gaussian(x) + linear(concat(x, onehot(y)))
}

evaluate {
  predict y from x by energy
  ood auroc(score = px, against = [uniform, constant])
  ood auc_pr(score = py, against = [noise])
}
"""
    program = compile_spec(Source("m.ebm", text))
    model = lower_energy(program, seed=0)
    generator = torch.Generator().manual_seed(0)
    x = torch.randn(800, 2, generator=generator)
    split = {
        "x": x,
        "y": torch.nn.functional.one_hot(torch.zeros(800, dtype=torch.long), 3).float(),
        "labels": {"y": torch.zeros(800, dtype=torch.long)},
    }
    result = evaluation.evaluate(program, model, split, limit=500)
    rows = {(r["metric"], r["score"], r["against"]): r for r in result["ood"]}
    assert set(rows) == {
        ("auroc", "px", "uniform"),
        ("auroc", "px", "constant"),
        ("auc_pr", "py", "noise"),
    }
    assert all(r["examples"] == 500 and 0.0 <= r["value"] <= 1.0 for r in rows.values())
    assert rows["auroc", "px", "uniform"]["value"] > 0.8


def test_paper_002s_tests_score_typical_inputs_highest():
    """typicality = -|s - mean S_train|; quantile = min(F, 1 - F) of the training scores' CDF."""
    from ebmspec.runtime.evaluation.ood import likelihood_test

    train = torch.tensor([0.0, 1.0, 2.0, 3.0, 4.0, 5.0, 6.0, 7.0, 8.0, 9.0])
    s = torch.tensor([4.5, -3.0, 20.0, 1.0])
    assert likelihood_test("typicality", s, train).tolist() == [0.0, -7.5, -15.5, -3.5]
    # F(4.5) = 5/10, F(-3) = 0, F(20) = 1, F(1) = 2/10
    assert likelihood_test("quantile", s, train).tolist() == pytest.approx([0.5, 0.0, 0.0, 0.2])
    # A set whose log-likelihoods are too HIGH passes a threshold test and fails the others.
    ood = torch.full((10,), 30.0)
    assert auroc(train, ood) == 0.0  # threshold: every OOD input looks more likely
    assert auroc(likelihood_test("typicality", train, train), likelihood_test(
        "typicality", ood, train)) == 1.0  # fmt: skip
    assert auroc(likelihood_test("quantile", train, train), likelihood_test(
        "quantile", ood, train)) > 0.9  # fmt: skip


def test_held_out_classes_leave_training_and_become_an_ood_set(tmp_path):
    """`data csv(..., holdout = [2])`: no class-2 row is trained on or tested as in-distribution;
    the class-2 test rows are the `heldout` OOD set of the report, the ID set truncated to match."""
    from ebmspec.api import compile_spec
    from ebmspec.runtime.data import load_dataset
    from ebmspec.runtime.data.encoding import test_split
    from ebmspec.runtime.data.transforms import fit_transforms
    from ebmspec.runtime.evaluation import evaluate as evaluation
    from ebmspec.runtime.model.energy import lower_energy, variable_table
    from ebmspec.source import Source

    generator = torch.Generator().manual_seed(1)
    labels = torch.arange(600) % 3
    features = torch.randn(600, 2, generator=generator) + 4 * labels[:, None]
    rows = [
        f"{a:.4f},{b:.4f},{k}" for (a, b), k in zip(features.tolist(), labels.tolist(), strict=True)
    ]
    (tmp_path / "d.csv").write_text("a,b,label\n" + "\n".join(rows) + "\n")
    text = f"""model m

data csv(file = "{tmp_path / "d.csv"}", features = 2, label = "label", classes = 3,
         test = 0.5, holdout = [2])

variables {{
  x : real[2]
  y : categorical(3)
}}

energy {{
  return gaussian(x) + linear(concat(x, onehot(y)))
}}

evaluate {{
  predict y from x by energy
  ood auroc(score = px, against = [heldout, noise], test = typicality)
}}
"""
    program = compile_spec(Source("m.ebm", text))
    dataset = load_dataset(program)
    assert not (dataset.train["y"] == 2).any() and not (dataset.test["y"] == 2).any()
    assert (dataset.ood["heldout"]["y"] == 2).all()
    assert len(dataset.train["y"]) + len(dataset.test["y"]) == 400  # every row of classes 0, 1
    assert 60 < len(dataset.ood["heldout"]["y"]) < 140  # the class-2 rows among the 300 test rows
    assert "classes [2] held out" in dataset.description
    table = variable_table(program)
    split = test_split(table, dataset, fit_transforms(program.data, dataset.train), 0)
    result = evaluation.evaluate(program, lower_energy(program, seed=0), split)
    rows = {r["against"]: r for r in result["ood"]}
    assert rows["heldout"]["examples"] == len(dataset.ood["heldout"]["y"]) < len(dataset.test["y"])
    assert rows["heldout"]["test"] == "typicality"
    assert rows["noise"]["examples"] == len(dataset.test["y"])


def test_sklearn_digits_are_a_second_dataset_of_images_in_the_unit_range(monkeypatch):
    """OOD set `sklearn_digits`: scikit-learn's 1,797 8 x 8 digits, resized to the model's image
    size, in [0, 1]; without scikit-learn, a located E624 naming the extra to install."""
    import importlib.util

    from ebmspec.diagnostics import UserError
    from ebmspec.runtime.data.base import Context
    from ebmspec.runtime.data.second_sets import load_second_set
    from ebmspec.source import NO_SPAN, Source

    context = Context("mnist", {}, Source("m.ebm", ""), NO_SPAN, None, 0)
    if importlib.util.find_spec("sklearn") is not None:
        images = load_second_set(context, "sklearn_digits", (1, 28, 28))["x"]
        assert images.shape == (1797, 1, 28, 28)
        assert images.min() >= 0 and images.max() <= 1 and images.mean() > 0.1
    monkeypatch.setattr(importlib.util, "find_spec", lambda name: None)
    with pytest.raises(UserError) as caught:
        load_second_set(context, "sklearn_digits", (1, 28, 28))
    (diagnostic,) = caught.value.diagnostics
    assert diagnostic.code == "E624" and "ebmspec[datasets]" in diagnostic.help
