"""Sliced score matching (the `ssm` objective) against closed forms.

* `score_terms` on a small MLP energy: 1/2 |s|^2 equals the squared input gradient, and the sliced
  trace averaged over all 2^D sign vectors equals the exact Hessian trace (autograd's Hessian,
  example by example): Rademacher slices are unbiased, and exact over the full set.
* `ssm_loss` on a Gaussian energy f = log N(x; 0, s^2 I): the Hessian is -I / s^2, so every
  Rademacher slice gives -D / s^2 and the loss is Hyvarinen's objective exactly,
  mean |x|^2 / (2 s^4) - D / s^2, whose minimiser over s is the data's standard deviation.
* the supervised variant adds alpha * the exact label cross-entropy.
"""

from __future__ import annotations

import itertools

import pytest
import torch
import torch.nn.functional as F

from ebmspec.api import compile_spec
from ebmspec.runtime.model.energy import lower_energy, variable_table
from ebmspec.runtime.model.enumeration import label_log_likelihood
from ebmspec.runtime.training.objectives.ssm import score_terms, ssm_loss
from ebmspec.source import Source


def _model(energy: str, variables: str = "x : real[2]"):
    text = f"model m\n\nvariables {{\n  {variables}\n}}\n\nenergy {{\n  return {energy}\n}}\n"
    program = compile_spec(Source("m.ebm", text))
    return program, lower_energy(program, seed=3).double()


def test_sliced_terms_are_the_exact_norm_and_trace_over_all_sign_vectors():
    _, model = _model("mlp(x, hidden = [16, 16], act = tanh)")
    x = torch.randn(5, 2, dtype=torch.float64, generator=torch.Generator().manual_seed(0))
    signs = [torch.tensor(v, dtype=torch.float64) for v in itertools.product((-1, 1), repeat=2)]
    directions = [{"x": v.expand(5, 2)} for v in signs]
    f, norm, trace = score_terms(model, {"x": x.clone().requires_grad_(True)}, ["x"], directions)
    for i in range(5):

        def energy(point):
            return model({"x": point.unsqueeze(0)}).sum()

        gradient = torch.autograd.functional.jacobian(energy, x[i])
        hessian = torch.autograd.functional.hessian(energy, x[i])
        assert norm[i].item() == pytest.approx(0.5 * gradient.pow(2).sum().item(), rel=1e-10)
        assert trace[i].item() == pytest.approx(torch.trace(hessian).item(), rel=1e-10)


def test_ssm_loss_is_hyvarinens_objective_on_a_gaussian():
    sigma, s = 0.6, 0.8
    _, model = _model(f"gaussian(x, mean = 0, std = {s})")
    generator = torch.Generator().manual_seed(1)
    x = sigma * torch.randn(4000, 2, dtype=torch.float64, generator=generator)
    table = {"x": variable_table(_model("gaussian(x, mean = 0)")[0])["x"]}
    loss, _, norm, trace = ssm_loss(model, {"x": x}, table, generator, projections=3)
    exact = (x.pow(2).sum(1) / (2 * s**4)).mean() - 2 / s**2
    assert loss.item() == pytest.approx(exact.item(), rel=1e-10)
    assert trace.item() == pytest.approx(-2 / s**2, rel=1e-12)
    # The objective's minimiser over s is the data's std: J(s) = m2 / (2 s^4) - 2 / s^2,
    # m2 = E|x|^2, is smallest at s^2 = m2 / 2.
    m2 = x.pow(2).sum(1).mean().item()
    grid = torch.linspace(0.3, 1.2, 901, dtype=torch.float64)
    best = grid[torch.argmin(m2 / (2 * grid**4) - 2 / grid**2)].item()
    assert best == pytest.approx((m2 / 2) ** 0.5, abs=1e-3)
    assert best == pytest.approx(sigma, abs=0.02)
    # grad_penalty adds grad_penalty * mean 1/2 |s|^2 = |x|^2 / (2 s^4) on average
    penalised, _, _, _ = ssm_loss(
        model, {"x": x}, table, torch.Generator().manual_seed(1), 3, grad_penalty=0.5
    )
    extra = 0.5 * (x.pow(2).sum(1) / (2 * s**4)).mean()
    assert (penalised - loss).item() == pytest.approx(extra.item(), rel=1e-10)


def test_alpha_adds_the_exact_label_cross_entropy():
    program, model = _model(
        "mlp(concat(x, onehot(y)), hidden = [8], act = tanh)", "x : real[2]\n  y : categorical(3)"
    )
    table = variable_table(program)
    generator = torch.Generator().manual_seed(2)
    x = torch.randn(6, 2, dtype=torch.float64, generator=generator)
    y = F.one_hot(torch.tensor([0, 1, 2, 2, 1, 0]), 3).double()
    batch = {"x": x, "y": y}
    state = generator.get_state()
    plain = ssm_loss(model, batch, table, generator)[0]
    generator.set_state(state)
    supervised = ssm_loss(model, batch, table, generator, alpha=0.5, labels=("y",))[0]
    logits = torch.stack(
        [model({"x": x, "y": F.one_hot(torch.full((6,), k), 3).double()}) for k in range(3)], 1
    )
    cross_entropy = F.cross_entropy(logits, y.argmax(1))
    assert (supervised - plain).item() == pytest.approx(0.5 * cross_entropy.item(), rel=1e-10)
    log_py = label_log_likelihood(model, batch, table, ("y",), {})
    assert (-log_py.mean()).item() == pytest.approx(cross_entropy.item(), rel=1e-10)
