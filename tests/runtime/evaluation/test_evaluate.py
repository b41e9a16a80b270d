"""Evaluation against exact answers (`ebmspec.runtime.evaluation.evaluate`).

* `tiny`: f(x, y, c, b) = linear(x, out = 11) . concat(onehot(y), onehot(c), b) factorises, so
  p(y_i = k | x) = softmax of its 3 (4, 2) logits in closed form: energy-based marginals must equal
  it (1e-5), the energy argmax is the per-site argmax, and Gibbs (exact after one sweep on a
  factorised law) must vote for it wherever the top probability leads by 0.2 or more.
* a coupled energy (quadratic over the one-hots) where the joint argmax is checked against brute
  force over every configuration;
* accuracy with missing labels, ECE on hand-made inputs (including confidences of exactly 1.0,
  which belong to the last bin, and a confidence on a bin edge), the enumeration order and count;
* the tiles and labels of conditional grids (rows only, rows x cols); the grid rows follow the
  clamped value; the density's model panel equals the closed-form mixture (the figures drawn from
  them: tests/runtime/plots).
"""

from __future__ import annotations

import math

import pytest
import torch

from ebmspec.api import compile_spec
from ebmspec.runtime.evaluation import evaluate as ev
from ebmspec.runtime.evaluation import metrics as scoring
from ebmspec.runtime.evaluation import predict
from ebmspec.runtime.model.energy import lower_energy
from ebmspec.runtime.plots import pictures, pixels
from ebmspec.source import Source

TINY = """\
model tiny

variables {
  x : real[2]
  y : categorical(3)[2]
  c : categorical(4)
  b : binary[1]
}

energy {
  return dot(linear(x, out = 11), concat(flatten(onehot(y)), onehot(c), b))
}

sampler main {
  init x ~ normal
  init y, c, b ~ uniform
  update y, c, b with gibbs
  update x with langevin(step = 0.01)
  sweeps = 5
}

evaluate {
  predict y, c, b from x by energy, samples(chains = 200, steps = 2)
  calibration ece(bins = 10)
}
"""

COUPLED = """\
model coupled

variables {
  x : real[2]
  y : categorical(3)[2]
  b : binary[2]
}

energy {
  h = concat(flatten(onehot(y)), b)
  return quadratic(h) + dot(linear(x, out = 8), h)
}

sampler main {
  init x ~ normal
  init y, b ~ uniform
  update y, b with gwg
  update x with langevin(step = 0.01)
}

evaluate {
  predict y from x, b by energy
}
"""

PICTURES = """\
model pictures

variables {
  x : real[1, 4, 6] in [0, 1]
  r : categorical(3)
  s : binary[1]
}

energy {
  return gaussian(flatten(x), mean = linear(concat(onehot(r), s), out = 24, bias = false),
                  std = 0.1)
}

sampler main {
  init x ~ uniform
  init r, s ~ uniform
  update r, s with gibbs
  update x with langevin(step = 0.002)
  sweeps = 40
}

evaluate {
  samples grid(rows = r, cols = s, steps = 40)
  samples grid(rows = r)
}
"""

MIXTURE = """\
model mixture

variables {
  x : real[2]
  m : categorical(2)
}

energy {
  return gaussian(x, mean = linear(onehot(m), out = 2, bias = false), std = 0.3)
}

sampler main {
  init x ~ normal
  init m ~ uniform
  update m with gibbs
  update x with mala(step = 0.02)
  sweeps = 100
}

evaluate {
  density plot(variable = x, bins = 40)
}
"""


@pytest.fixture(autouse=True)
def seeded():
    torch.manual_seed(0)
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


def _compile(text: str, name: str):
    return compile_spec(Source(f"{name}.ebm", text))


def _parameter(model, suffix: str) -> torch.nn.Parameter:
    return next(p for n, p in model.named_parameters() if n.endswith(suffix))


def _tiny(scale: float = 2.0):
    program = _compile(TINY, "tiny")
    model = lower_energy(program, seed=0)
    generator = torch.Generator().manual_seed(1)
    with torch.no_grad():
        for parameter in model.parameters():
            parameter.copy_(scale * torch.randn(parameter.shape, generator=generator))
    return program, model


def _tiny_truth(model, x: torch.Tensor) -> dict:
    """Closed-form p(y_i = k | x) of the factorised tiny model: softmax of each site's logits."""
    linear = model.blocks["return"].net[0]
    with torch.no_grad():
        logits = x @ linear.weight.t() + linear.bias
    return {
        "y": logits[:, :6].reshape(-1, 2, 3).softmax(-1),
        "c": logits[:, 6:10].softmax(-1),
        "b": torch.stack([torch.zeros_like(logits[:, 10]), logits[:, 10]], -1)
        .softmax(-1)
        .unsqueeze(1),
    }


# ---- configurations ----------------------------------------------------------------------------


def test_configurations_are_lexicographic_and_complete():
    program = _compile(TINY, "tiny")
    configs = predict.label_configurations(program, ["y", "c", "b"])
    assert configs.count == 9 * 4 * 2
    codes = torch.cat([configs.labels["y"], configs.labels["c"][:, None], configs.labels["b"]], 1)
    assert len({tuple(row) for row in codes.tolist()}) == 72
    assert codes[0].tolist() == [0, 0, 0, 0] and codes[-1].tolist() == [2, 2, 3, 1]
    assert codes[1].tolist() == [0, 0, 0, 1] and codes[2].tolist() == [0, 0, 1, 0]
    assert configs.values["y"].shape == (72, 2, 3) and configs.values["b"].shape == (72, 1)
    assert torch.equal(configs.values["y"].argmax(-1), configs.labels["y"])
    assert configs.values["b"].dtype == torch.float32


POSITIONS = """\
model positions

variables {
  x : real[2]
  x_pos : categorical(16)
  y_pos : categorical(16)
  t : categorical(2)[3]
}

energy {
  return sum(x) + sum(onehot(x_pos)) + sum(onehot(y_pos)) + sum(onehot(t))
}
"""


def test_configurations_of_a_categorical_array_and_of_dsprites_positions():
    program = _compile(POSITIONS, "positions")
    configs = predict.label_configurations(program, ["t"])
    assert configs.count == 8
    assert configs.labels["t"].tolist()[:3] == [[0, 0, 0], [0, 0, 1], [0, 1, 0]]
    assert configs.values["t"].shape == (8, 3, 2)
    configs = predict.label_configurations(program, ["x_pos", "y_pos"])
    index = torch.arange(256)
    assert torch.equal(configs.labels["x_pos"], index // 16)
    assert torch.equal(configs.labels["y_pos"], index % 16)
    with pytest.raises(ValueError, match="real variable 'x'"):
        predict.label_configurations(program, ["x"])


# ---- predictions -------------------------------------------------------------------------------


def test_energy_marginals_equal_the_closed_form():
    program, model = _tiny()
    x = torch.randn(37, 2)
    pred, marginals = predict.predict_energy(model, program, {"x": x}, ["y", "c", "b"], batch=500)
    truth = _tiny_truth(model, x)
    for name in ("y", "c", "b"):
        torch.testing.assert_close(marginals[name], truth[name], atol=1e-5, rtol=1e-5)
        # Factorised: the joint argmax is the argmax of every site.
        assert torch.equal(pred[name], truth[name].argmax(-1)), name
    assert (
        pred["c"].shape == (37,) and pred["y"].shape == (37, 2) and pred["b"].dtype == torch.int64
    )


def test_energy_prediction_sums_out_the_variables_it_does_not_predict():
    program, model = _tiny()
    x = torch.randn(9, 2)
    pred, marginals = predict.predict_energy(model, program, {"x": x}, ["y"])
    truth = _tiny_truth(model, x)
    torch.testing.assert_close(marginals["y"], truth["y"], atol=1e-5, rtol=1e-5)
    assert set(pred) == {"y"}


def test_energy_argmax_is_the_joint_argmax_of_a_coupled_model():
    program = _compile(COUPLED, "coupled")
    model = lower_energy(program, seed=0)
    generator = torch.Generator().manual_seed(1)
    with torch.no_grad():  # couplings N(0, 1/4): strong enough to tie the sites together
        for parameter in model.parameters():
            parameter.copy_(0.5 * torch.randn(parameter.shape, generator=generator))
    x = torch.randn(25, 2)
    b = torch.randint(0, 2, (25, 2)).float()
    pred, marginals = predict.predict_energy(model, program, {"x": x, "b": b}, ["y"])
    configs = predict.label_configurations(program, ["y"])
    with torch.no_grad():
        table = torch.stack(
            [
                model({"x": x, "b": b, "y": configs.values["y"][c].expand(25, 2, 3)})
                for c in range(configs.count)
            ],
            1,
        )
    assert torch.equal(pred["y"], configs.labels["y"][table.argmax(1)])
    probs = table.softmax(1)
    expected = torch.einsum("nc,csk->nsk", probs, configs.values["y"])
    torch.testing.assert_close(marginals["y"], expected, atol=1e-5, rtol=1e-5)
    # The joint argmax need not be the per-site argmax of the marginals; here it differs somewhere.
    assert not torch.equal(pred["y"], marginals["y"].argmax(-1))


def test_sample_vote_agrees_with_the_closed_form_where_it_is_clear():
    program, model = _tiny()
    x = torch.randn(30, 2)
    done = []
    pred, frequencies = predict.predict_samples(
        model,
        program,
        {"x": x},
        ["y", "c", "b"],
        chains=200,
        steps=2,
        batch=2000,
        progress=lambda d, t: done.append((d, t)),
    )
    assert done == [(10, 30), (20, 30), (30, 30)]
    truth = _tiny_truth(model, x)
    for name in ("y", "c", "b"):
        assert frequencies[name].shape == truth[name].shape
        torch.testing.assert_close(frequencies[name].sum(-1), torch.ones(truth[name].shape[:-1]))
        top = truth[name].topk(2, -1).values
        clear = top[..., 0] - top[..., 1] > 0.2
        assert clear.sum() > 10, name
        assert torch.equal(pred[name][clear], truth[name].argmax(-1)[clear]), name
        # 200 exact draws: every frequency within 4.5 (largest) binomial standard errors.
        assert float((frequencies[name] - truth[name]).abs().max()) < 4.5 * math.sqrt(0.25 / 200)


def test_sample_vote_breaks_ties_to_the_lowest_value():
    program, model = _tiny(scale=0.0)
    with torch.no_grad():  # c is 1 or 2 with probability 1/2 each (0 and 3: e^-35)
        model.blocks["return"].net[0].bias[6:10] = torch.tensor([-30.0, 5.0, 5.0, -30.0])
    x = torch.zeros(64, 2)
    pred, frequencies = predict.predict_samples(model, program, {"x": x}, ["c"], chains=2, steps=3)
    tie = frequencies["c"][:, 1] == frequencies["c"][:, 2]
    assert 10 < int(tie.sum()) < 54  # 1-1 splits of two chains: about half
    assert (pred["c"][tie] == 1).all()
    assert torch.equal(pred["c"][~tie], frequencies["c"][~tie].argmax(-1))


# ---- metrics -----------------------------------------------------------------------------------


def test_accuracy_per_attribute_with_missing_labels():
    pred = {"y": torch.tensor([[0, 1, 1], [2, 1, 0]]), "x_pos": torch.tensor([3, 4])}
    labels = {"y": torch.tensor([[0, -1, 0], [2, 0, -1]]), "x_pos": torch.tensor([3, -1])}
    result = scoring.accuracy(pred, labels)
    assert result["per_attribute"] == {
        "y[0]": 1.0,
        "y[1]": 0.0,
        "y[2]": 0.0,
        "x_pos": 1.0,
    }
    assert result["pairs"] == 5
    assert result["mean"] == pytest.approx(3 / 5)
    assert math.isnan(scoring.accuracy({"a": torch.tensor([1])}, {"a": torch.tensor([-1])})["mean"])


def test_ece_of_hand_made_inputs_counts_confidence_one_in_the_last_bin():
    # Bin 19 holds the two confidences of exactly 1.0 (one right): |0.5 - 1.0| * 2/4.
    # Bin 10 holds 0.5 and 0.52 (both right): |1 - 0.51| * 2/4. Dropping the 1.0s would give 0.49.
    confidence = torch.tensor([1.0, 1.0, 0.5, 0.52])
    correct = torch.tensor([True, False, True, True])
    assert scoring.calibration_error(confidence, correct, 20) == pytest.approx(0.25 + 0.245)
    # 0.7 lies on an edge: it belongs to [0.70, 0.75) (0.7 * 20 is 13.999... in floating point).
    edge = scoring.calibration_error(
        torch.tensor([0.7, 0.74], dtype=torch.float64), torch.tensor([True, False]), 20
    )
    assert edge == pytest.approx(abs(0.5 - 0.72))
    assert scoring.calibration_error(torch.tensor([0.0]), torch.tensor([False]), 20) == 0.0


def test_ece_pools_attributes_and_skips_missing_labels():
    marginals = {
        "y": torch.tensor([[[1.0, 0.0], [0.3, 0.7]], [[0.0, 1.0], [0.6, 0.4]]]),
        "c": torch.tensor([[0.5, 0.25, 0.25], [0.1, 0.1, 0.8]]),
    }
    labels = {"y": torch.tensor([[0, 0], [0, -1]]), "c": torch.tensor([0, 2])}
    result = scoring.ece(marginals, labels, bins=10)
    # y[0]: conf 1.0 right, 1.0 wrong -> bin 9: |0.5 - 1| = 0.5. y[1]: conf 0.7 wrong -> 0.7.
    # c: conf 0.5 right (bin 5) and 0.8 right (bin 8): (0.5 + 0.2) / 2 = 0.35.
    assert result["per_attribute"] == pytest.approx({"y[0]": 0.5, "y[1]": 0.7, "c": 0.35})
    # Pooled over 5 pairs: bin 9 (1, 1): |1 - 2| / 5; bin 7 (0.7 wrong): 0.7 / 5;
    # bin 5 (0.5 right): 0.5 / 5; bin 8 (0.8 right): 0.2 / 5.
    assert result["ece"] == pytest.approx((1.0 + 0.7 + 0.5 + 0.2) / 5)
    assert result["macro"] == pytest.approx((0.5 + 0.7 + 0.35) / 3)


def test_evaluate_reports_every_method_of_the_spec():
    program, model = _tiny()
    n = 40
    x = torch.randn(n, 2)
    truth = _tiny_truth(model, x)
    labels = {
        name: torch.distributions.Categorical(probs=truth[name]).sample()
        for name in ("y", "c", "b")
    }
    labels["c"][::5] = -1  # missing
    split = {"x": x, "labels": labels}
    seen = []
    result = ev.evaluate(program, model, split, progress=lambda d, t: seen.append((d, t)), limit=30)
    assert result["examples"] == 30
    expected = scoring.accuracy(
        {k: v.argmax(-1)[:30] for k, v in truth.items()}, {k: v[:30] for k, v in labels.items()}
    )
    assert result["accuracy_energy"] == pytest.approx(expected["mean"])
    cut = {k: v[:30] for k, v in truth.items()}
    want = scoring.ece(cut, {k: v[:30] for k, v in labels.items()}, bins=10)
    assert result["ece"] == pytest.approx(want["ece"], abs=1e-5)
    assert result["ece_from"] == "energy" and result["bins"] == 10
    assert abs(result["accuracy_samples"] - result["accuracy_energy"]) < 0.1
    assert set(result["per_attribute"]) == {"accuracy_energy", "accuracy_samples", "ece"}
    assert set(result["per_attribute"]["accuracy_energy"]) == {"y[0]", "y[1]", "c", "b[0]"}
    assert len(result["predictions"]) == 1 and seen[-1] == (60, 60)


def test_evaluate_leaves_out_methods_the_spec_does_not_name():
    program = _compile(COUPLED, "coupled")
    model = lower_energy(program, seed=0)
    x, b = torch.randn(8, 2), torch.randint(0, 2, (8, 2)).float()
    result = ev.evaluate(
        program, model, {"x": x, "b": b, "labels": {"y": torch.zeros(8, 2).long()}}
    )
    assert "accuracy_energy" in result and "ece" in result
    assert "accuracy_samples" not in result


# ---- pictures ----------------------------------------------------------------------------------


def _pictures():
    program = _compile(PICTURES, "pictures")
    model = lower_energy(program, seed=0)
    with torch.no_grad():
        # Mean pixel value 0.1 + 0.4 r (+ 0.05 s): rows must get brighter from top to bottom.
        weight = torch.zeros(24, 4)
        weight[:, :3] = torch.tensor([0.1, 0.5, 0.9])
        weight[:, 3] = 0.05
        _parameter(model, "net.0.weight").copy_(weight)
    return program, model


def test_grid_of_rows_and_columns_has_one_tile_per_pair():
    program, model = _pictures()
    call = program.evaluate.reports[0].call
    grid = pictures.conditional_tiles(program, model, call, seed=1)
    assert grid.tiles.shape == (3, 2, 1, 4, 6)  # r's 3 values x s's 2 values, x: [1, 4, 6]
    assert grid.rows == ("r", ["0", "1", "2"]) and grid.columns == ("s", ["0", "1"])
    brightness = grid.tiles.mean((1, 2, 3, 4)).tolist()
    assert brightness == pytest.approx([0.1, 0.5, 0.9], abs=0.08)


def test_grid_of_rows_only_has_columns_samples_per_row():
    program, model = _pictures()
    call = program.evaluate.reports[1].call
    grid = pictures.conditional_tiles(program, model, call, columns=5, transforms=None)
    assert grid.tiles.shape == (3, 5, 1, 4, 6)
    assert grid.rows == ("r", ["0", "1", "2"]) and grid.columns is None


def _mixture():
    program = _compile(MIXTURE, "mixture")
    model = lower_energy(program, seed=0)
    with torch.no_grad():
        _parameter(model, "net.0.weight").copy_(torch.tensor([[-1.0, 1.0], [0.0, 0.0]]))
    return program, model


def test_density_model_panel_is_the_closed_form_mixture():
    program, model = _mixture()
    call = program.evaluate.reports[0].call
    generator = torch.Generator().manual_seed(2)
    modes = torch.tensor([[-1.0, 0.0], [1.0, 0.0]])
    data = modes[torch.randint(0, 2, (3000,), generator=generator)]
    data = data + 0.3 * torch.randn(3000, 2, generator=generator)
    panels = pictures.density_panels(program, model, call, data, chains=1000, sweeps=60)
    (low0, high0), (low1, high1) = panels.extent
    assert (low0, high0) == pytest.approx((float(data[:, 0].min()), float(data[:, 0].max())))
    centres = [
        torch.linspace(lo, hi, 41, dtype=torch.float64)[:-1] + (hi - lo) / 80
        for lo, hi in panels.extent
    ]
    grid = torch.stack(torch.meshgrid(*centres, indexing="ij"), -1)
    density = sum(torch.exp(-((grid - m.double()) ** 2).sum(-1) / (2 * 0.09)) for m in modes)
    torch.testing.assert_close(panels.model, density / density.sum(), atol=1e-6, rtol=1e-4)
    for table in panels:
        if isinstance(table, torch.Tensor):
            assert table.shape == (40, 40)
            assert float(table.sum()) == pytest.approx(1.0)
    # Model and samples put their mass near the modes: the cells within 0.45 of one hold most.
    near = ((grid[..., None, :] - modes.double()).norm(dim=-1) < 0.45).any(-1)
    assert float(panels.model[near].sum()) > 0.6
    assert float(panels.samples[near].sum()) > 0.5
    assert float(panels.data[near].sum()) > 0.5


def test_grid_passes_the_fitted_transforms_on(monkeypatch):
    """`eval` and `sample -o` hand the run's fitted pipelines (a fitted `standardize` cannot be
    inverted without them) to the grid, which gives them to `to_pixels`."""
    program, model = _pictures()
    seen = []
    plain = pixels.to_pixels

    def to_pixels(program, variable, values, transforms=None):
        seen.append(transforms)
        return plain(program, variable, values)

    monkeypatch.setattr(pixels, "to_pixels", to_pixels)
    call = program.evaluate.reports[1].call.with_arg("steps", 2)
    pictures.conditional_tiles(program, model, call, columns=2, transforms="marker")
    assert seen == ["marker"]


def test_mce_and_oce_against_a_bin_by_bin_computation():
    """MCE = the largest |accuracy - confidence| over non-empty bins; OCE = the error rate of the
    predictions at confidence >= 99.7 % over 0.3 % (paper 002, B.3); the reliability table."""
    generator = torch.Generator().manual_seed(4)
    confidence = torch.rand(500, generator=generator) * 0.6 + 0.4
    confidence[:100] = 0.998  # 100 very confident predictions, 10 of them wrong
    correct = torch.rand(500, generator=generator) < confidence**2  # overconfident on average
    correct[:100] = torch.arange(100) >= 10
    got = scoring.calibration_errors(confidence, correct, 10)
    ece = mce = 0.0
    for b in range(10):
        low, high = b / 10, (b + 1) / 10
        inside = (confidence >= low) & ((confidence < high) if b < 9 else (confidence <= high))
        if not inside.any():
            continue
        share = inside.double().mean().item()
        acc = correct[inside].double().mean().item()
        conf = confidence[inside].double().mean().item()
        ece += share * abs(acc - conf)
        mce = max(mce, abs(acc - conf))
        assert got["reliability"][b] == pytest.approx([inside.sum().item(), acc, conf])
    assert got["ece"] == pytest.approx(ece, abs=1e-9)
    assert got["mce"] == pytest.approx(mce, abs=1e-9)
    sure = confidence >= 0.997  # our 100 (10 % wrong) and the random ones that high
    assert sure.sum() > 100
    expected = (~correct[sure]).double().mean().item() / 0.003
    assert got["oce"] == pytest.approx(expected) and 25 < got["oce"] < 35
    assert got["mce"] >= got["ece"]
    assert math.isnan(got["reliability"][0][1])  # no confidence below 0.4: empty bins are NaN
    none_sure = scoring.calibration_errors(confidence.clamp(max=0.99), correct, 10)
    assert math.isnan(none_sure["oce"])


def test_all_class_ece_counts_every_class_probability_as_a_prediction():
    """Paper 002's variant: (p_k, label == k) for every class k, binned like the top label."""
    probs = torch.tensor([[0.7, 0.2, 0.1], [0.5, 0.25, 0.25]])
    labels = torch.tensor([0, 1])
    got = scoring.ece({"y": probs}, {"y": labels}, bins=10)
    pairs = scoring.calibration_error(probs.flatten(), torch.tensor([1, 0, 0, 0, 1, 0]).bool(), 10)
    assert got["ece_all_classes"] == pytest.approx(pairs)
    # by hand: bins 0.1 {0.1: 0}, 0.2 {0.2, 0.25, 0.25: 0, 1, 0}, 0.5 {0.5: 0}, 0.7 {0.7: 1}
    by_hand = (0.1 + 3 * abs(1 / 3 - 0.7 / 3) + 0.5 + 0.3) / 6
    assert got["ece_all_classes"] == pytest.approx(by_hand)
