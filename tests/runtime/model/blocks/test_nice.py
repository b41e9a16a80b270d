"""The `nice` flow block and the `nll` objective against closed forms.

* NICE's output is the exact log-density: log N(g(x); 0, I) + log |det dg/dx|, with the Jacobian
  of g computed by autograd (float64), for even and odd input lengths and several layer counts.
* It integrates to 1: on a 2-D input, the density summed over a fine grid is 1.
* `nll` on a flow is -mean f; on an all-discrete model it is -(mean f - log Z) with Z enumerated.
* `energy_facts.flow_density` accepts a flow of all the real variables (reshaped only) and
  nothing else.
"""

from __future__ import annotations

import math

import pytest
import torch

from ebmspec import energy_facts
from ebmspec.api import compile_spec
from ebmspec.diagnostics import UserError
from ebmspec.runtime.model.energy import lower_energy, variable_table
from ebmspec.runtime.training.objectives.nll import nll_loss
from ebmspec.source import Source


def _program(energy: str, variables: str = "x : real[5]", train: str = ""):
    text = f"model m\n\nvariables {{\n  {variables}\n}}\n\nenergy {{\n  return {energy}\n}}\n"
    return compile_spec(Source("m.ebm", text + train))


def _randomised(program, seed: int):
    """The lowered energy with every parameter random (the couplings start at zero)."""
    model = lower_energy(program, seed=seed).double()
    generator = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for parameter in model.parameters():
            parameter.copy_(0.3 * torch.randn(parameter.shape, generator=generator))
    return model


@pytest.mark.parametrize(("dim", "layers"), [(5, 4), (6, 3), (2, 1)])
def test_nice_is_the_exact_log_density(dim, layers):
    program = _program(f"nice(x, layers = {layers}, hidden = [8], act = tanh)", f"x : real[{dim}]")
    model = _randomised(program, seed=dim)
    block = model.blocks["return"]
    x = torch.randn(4, dim, dtype=torch.float64, generator=torch.Generator().manual_seed(0))

    def latent(point):  # g(x): the flow's output before the base density
        even, odd = point[0::2].unsqueeze(0), point[1::2].unsqueeze(0)
        for index, coupling in enumerate(block.couplings):
            if index % 2 == 0:
                odd = odd + coupling(even)
            else:
                even = even + coupling(odd)
        h = torch.empty(dim, dtype=point.dtype)
        h[0::2], h[1::2] = even[0], odd[0]
        return h * block.log_scale.exp()

    for row in x:
        z = latent(row)
        jacobian = torch.autograd.functional.jacobian(latent, row)
        exact = -0.5 * z.pow(2).sum() - 0.5 * dim * math.log(2 * math.pi)
        exact = exact + torch.linalg.slogdet(jacobian).logabsdet
        assert model({"x": row.unsqueeze(0)}).item() == pytest.approx(exact.item(), rel=1e-10)


def test_nice_integrates_to_one():
    program = _program("nice(x, layers = 4, hidden = [16], act = tanh)", "x : real[2]")
    model = _randomised(program, seed=7)
    axis = torch.linspace(-12, 12, 1201, dtype=torch.float64)
    grid = torch.stack(torch.meshgrid(axis, axis, indexing="ij"), -1).reshape(-1, 2)
    with torch.no_grad():
        density = model({"x": grid}).exp()
    step = (axis[1] - axis[0]).item()
    assert density.sum().item() * step**2 == pytest.approx(1.0, abs=2e-3)


def test_class_conditional_nice_is_each_class_gaussian_through_the_same_flow():
    """`nice(x, classes = K)[y]` = log N(g(x); mu_y, I) + log|det dg/dx| (paper 002's generative
    classifier), the latent g(x) recomputed here from the couplings; every class's density
    integrates to 1 over a fine grid."""
    conditional = _program("nice(x, layers = 4, hidden = [16], act = tanh, classes = 3)[y]",
                           "x : real[2]\n  y : categorical(3)")  # fmt: skip
    model = _randomised(conditional, seed=7)
    block = model.blocks["return"]
    axis = torch.linspace(-14, 14, 1001, dtype=torch.float64)
    grid = torch.stack(torch.meshgrid(axis, axis, indexing="ij"), -1).reshape(-1, 2)
    step = (axis[1] - axis[0]).item()
    with torch.no_grad():
        even, odd = grid[:, 0:1], grid[:, 1:2]
        for index, coupling in enumerate(block.couplings):
            if index % 2 == 0:
                odd = odd + coupling(even)
            else:
                even = even + coupling(odd)
        z = torch.cat([even, odd], 1) * block.log_scale.exp()  # g(x); the scaling's log-det:
        log_det = block.log_scale.sum()
        for k in range(3):
            y = torch.nn.functional.one_hot(torch.full((len(grid),), k), 3).double()
            f = model({"x": grid, "y": y})
            exact = -0.5 * (z - block.means[k]).pow(2).sum(1) - math.log(2 * math.pi) + log_det
            assert torch.allclose(f, exact, rtol=1e-12, atol=1e-12)
            assert f.exp().sum().item() * step**2 == pytest.approx(1.0, abs=3e-3)
    assert not torch.allclose(block.means[0], block.means[1])  # the classes differ


def test_nll_is_the_exact_negative_log_likelihood():
    flow = _program("nice(x, layers = 2, hidden = [8])", "x : real[3]")
    model = _randomised(flow, seed=1)
    x = torch.randn(10, 3, dtype=torch.float64)
    loss, parts = nll_loss(model, {"x": x}, variable_table(flow), True)
    assert loss.item() == pytest.approx(-model({"x": x}).mean().item(), rel=1e-12)
    assert set(parts) == {"f_data"}

    ising = _program("quadratic(s)", "s : binary[4]")
    model = _randomised(ising, seed=2).float()  # the enumeration is built in float32
    s = torch.tensor([[0.0, 1, 1, 0], [1, 1, 1, 1], [0, 0, 0, 1]])
    states = torch.tensor([[(k >> i) & 1 for i in range(4)] for k in range(16)]).float()
    log_z = torch.logsumexp(model({"s": states}), 0)
    loss, parts = nll_loss(model, {"s": s}, variable_table(ising), False)
    exact = -(model({"s": s}).mean() - log_z)
    assert loss.item() == pytest.approx(exact.item(), rel=1e-6)
    assert parts["log_z"].item() == pytest.approx(log_z.item(), rel=1e-6)


def test_nll_honours_the_energy_and_gradient_penalties():
    """energy_l2 * mean f^2 + grad_penalty * mean 1/2 |grad_x f|^2 on the data, as for every
    objective."""
    flow = _program("nice(x, layers = 2, hidden = [8])", "x : real[3]")
    model = _randomised(flow, seed=1)
    x = torch.randn(10, 3, dtype=torch.float64, generator=torch.Generator().manual_seed(3))
    loss, _ = nll_loss(model, {"x": x}, variable_table(flow), True, 0.2, 0.3)
    leaf = x.clone().requires_grad_(True)
    f = model({"x": leaf})
    (grad,) = torch.autograd.grad(f.sum(), leaf)
    expected = -f.mean() + 0.2 * f.pow(2).mean() + 0.3 * 0.5 * grad.pow(2).sum(1).mean()
    assert loss.item() == pytest.approx(expected.item(), rel=1e-12)


@pytest.mark.parametrize(
    ("variables", "energy", "flow"),
    [
        ("x : real[1, 2, 2]", "nice(flatten(x))", True),
        ("x : real[2]\n  w : real[3]", "nice(concat(w, x))", True),
        ("x : real[2]\n  w : real[3]", "nice(x)", False),  # w has no density
        ("x : real[4]", "nice(x) + gaussian(x)", False),  # not normalised
        ("x : real[4]", "nice(mlp(x, hidden = [4], out = 4))", False),  # not a bijection we know
        ("x : real[4]\n  y : categorical(3)", "nice(x)", False),  # y has no density
        # paper 002's generative classifier: log p(x | y), normalised over x for every y
        ("x : real[4]\n  y : categorical(3)", "nice(x, classes = 3)[y]", True),
        ("x : real[4]\n  y : categorical(3)", "nice(x, classes = 3)[y] + gaussian(x)", False),
        ("x : real[4]\n  y : categorical(3)\n  b : binary[2]", "nice(x, classes = 3)[y]", False),
        ("x : real[4]\n  y : categorical(3)", "mlp(x, hidden = [4], out = 3)[y]", False),
    ],
)
def test_flow_density_recognises_normalised_flows(variables, energy, flow):
    program = _program(energy, variables)
    assert energy_facts.flow_density(program.energy, program.variables) is flow


def test_nll_on_an_intractable_energy_is_a_located_error():
    train = "\ntrain {\n  objective = nll\n  batch = 10\n  iterations = 5\n}\n"
    with pytest.raises(UserError) as caught:
        _program("nice(x) + gaussian(x)", "x : real[4]", train)
    text = caught.value.render() if hasattr(caught.value, "render") else str(caught.value)
    assert "E504" in text and "normalised flow" in text
