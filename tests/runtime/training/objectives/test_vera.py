"""VERA's pieces against closed forms, on a linear-Gaussian generator g(z) = A z + b, where
q(x) = N(b, A A^T + sigma^2 I) is known exactly.

* the importance-sampled score estimate converges to grad_x log q(x) = -(A A^T + sigma^2 I)^-1
  (x - b) (many samples from xi(z | z0), whatever z0 produced x);
* the entropy surrogate's gradient is the entropy's: with respect to b it is 0 (shifting q does not
  change its entropy), with respect to log sigma it is d/d log sigma of
  1/2 log det(2 pi e (A A^T + sigma^2 I)), up to Monte-Carlo error;
* a checkpoint holds the generator, sigma, eta and both optimizers, and restores them exactly.
"""

from __future__ import annotations

import math

import pytest
import torch

from ebmspec.runtime.model.ops import Var
from ebmspec.runtime.training.objectives.vera import VeraGenerator

TABLE = {"x": Var("real", (3,))}
ARGS = {
    "latent": 2,
    "hidden": [8],
    "entropy_weight": 1.0,
    "generator_lr": 1e-3,
    "posterior_lr": 1e-3,
    "importance": 20000,
}
A = torch.tensor([[1.0, 0.5], [-0.3, 0.8], [0.2, -1.0]])
B = torch.tensor([0.5, -1.0, 2.0])


def _linear_vera(sigma: float) -> VeraGenerator:
    vera = VeraGenerator(TABLE, ["x"], ARGS, "cpu", seed=0)
    linear = torch.nn.Linear(2, 3)
    with torch.no_grad():
        linear.weight.copy_(A)
        linear.bias.copy_(B)
        vera.log_sigma.fill_(math.log(sigma))
        vera.log_eta.fill_(math.log(0.6))
    vera.net = linear
    return vera


def test_the_score_estimate_is_the_exact_score_of_q():
    sigma = 0.3
    vera = _linear_vera(sigma)
    generator = torch.Generator().manual_seed(1)
    x, z0 = vera.draw(6, generator)
    x = x.detach()
    estimate = vera.score(x, z0, generator)
    covariance = A @ A.t() + sigma**2 * torch.eye(3)
    exact = -torch.linalg.solve(covariance, (x - B).t()).t()
    error = (estimate - exact).norm(dim=1) / exact.norm(dim=1)
    assert error.max().item() < 0.05, error


def test_the_entropy_surrogate_has_the_entropys_gradient():
    sigma = 0.3
    vera = _linear_vera(sigma)
    vera.importance = 2000
    generator = torch.Generator().manual_seed(2)
    x, z0 = vera.draw(2000, generator)
    score = vera.score(x.detach(), z0, generator)
    surrogate = (-score * x).sum(1).mean()
    d_bias, d_log_sigma = torch.autograd.grad(surrogate, [vera.net.bias, vera.log_sigma])
    assert d_bias.abs().max().item() < 0.05
    # H(q) = 1/2 log det(2 pi e C), C = A A^T + s^2 I: dH/d log s = s^2 tr(C^-1).
    covariance = A @ A.t() + sigma**2 * torch.eye(3)
    exact = sigma**2 * torch.trace(torch.linalg.inv(covariance)).item()
    assert d_log_sigma.item() == pytest.approx(exact, rel=0.1)


def test_a_checkpoint_restores_everything():
    vera = VeraGenerator(TABLE, ["x"], {**ARGS, "importance": 4}, "cpu", seed=3)
    generator = torch.Generator().manual_seed(3)

    def one_step():
        x, z0 = vera.draw(16, generator)
        vera.posterior_step(x, z0, generator)
        return vera.generator_step(lambda v: -v["x"].pow(2).sum(1), x, z0, generator)

    one_step()
    tensors, groups = vera.state()
    tensors = {key: value.clone() for key, value in tensors.items()}  # state() shares storage
    rng = generator.get_state()
    expected = one_step()
    after = {k: v.clone() for k, v in vera.state()[0].items()}
    vera.restore(tensors, groups)
    generator.set_state(rng)
    again = one_step()
    assert torch.equal(expected["gen_entropy"], again["gen_entropy"])
    for key, value in vera.state()[0].items():
        assert torch.equal(value, after[key]), key
