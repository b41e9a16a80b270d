"""`samples accuracy`: conditional samples scored by the model's own prediction, against a model
whose labels set the mean of x (samples obey every condition) and one whose labels do nothing
(chance), plus the sample statistics against the data and the report's checks."""

from __future__ import annotations

import pytest
import torch

from ebmspec.api import compile_spec
from ebmspec.diagnostics import UserError
from ebmspec.runtime.evaluation.generation import generation
from ebmspec.runtime.model.energy import lower_energy
from ebmspec.source import Source

SPEC = """\
model gen "labels that set the mean of x"

variables {
  x : real[2]
  y : categorical(4)
}

energy {
  return gaussian(x, mean = linear(onehot(y), out = 2, bias = false), std = 0.3)
}

sampler s {
  init x ~ normal
  init y ~ uniform
  update y with gwg
  update x with mala(step = 0.01)
  sweeps = 150
}

evaluate {
%s
}
"""
REPORTS = "  predict y from x by energy\n  samples accuracy(chains = 50, steps = 150)"
MEANS = torch.tensor([[2.0, -2.0, 2.0, -2.0], [2.0, 2.0, -2.0, -2.0]])


def _model(scale: float):
    program = compile_spec(Source("gen.ebm", SPEC % REPORTS))
    model = lower_energy(program, seed=0)
    with torch.no_grad():
        model.blocks["return"].net[0].weight.copy_(scale * MEANS)
    return program, model


def test_labels_that_move_x_give_samples_that_obey_them():
    program, model = _model(1.0)
    split = {"x": torch.randn(500, 2, generator=torch.Generator().manual_seed(0)) * 2.0}
    result = generation(program, model, split, None, seed=1)
    assert result["generation_accuracy"] == 1.0 and result["generation_worst"] == 1.0
    assert result["per_value"] == {"y": {"0": 1.0, "1": 1.0, "2": 1.0, "3": 1.0}}
    # x | y ~ N(mean_y, 0.3^2): the samples sit inside the data's range, mean near its mean
    assert result["sample_out_of_range"] < 0.05
    assert result["sample_mean_gap"] < 0.2


def test_labels_that_do_nothing_give_chance():
    program, model = _model(0.0)
    split = {"x": torch.randn(500, 2, generator=torch.Generator().manual_seed(0))}
    result = generation(program, model, split, None, seed=1)
    assert result["generation_accuracy"] == pytest.approx(0.25)
    assert result["generation_worst"] == 0.0


def test_samples_far_from_the_data_show_in_the_statistics():
    program, model = _model(1.0)
    split = {"x": 0.01 * torch.randn(500, 2, generator=torch.Generator().manual_seed(0))}
    result = generation(program, model, split, None, seed=1)
    assert result["sample_out_of_range"] > 0.9
    assert result["sample_mean_gap"] > 1.0


def test_no_report_no_numbers_and_a_report_needs_predict():
    program = compile_spec(Source("gen.ebm", SPEC % "  predict y from x by energy"))
    model = lower_energy(program, seed=0)
    assert generation(program, model, {"x": torch.zeros(3, 2)}, None) == {}
    with pytest.raises(UserError, match="E704"):
        compile_spec(Source("gen.ebm", SPEC % "  samples accuracy(chains = 5)"))
