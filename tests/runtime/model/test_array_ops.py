"""`conv` with a declared kernel, `matmul`, elementwise and reducing `min` / `max`: each equals
the same computation written with torch, and the emitted module reproduces them bit for bit."""

from __future__ import annotations

import torch
import torch.nn.functional as F

from ebmspec.api import compile_spec
from ebmspec.runtime.model.energy import lower_energy, random_values
from ebmspec.source import Source
from tests.codegen.harness import assert_exact, compare_emitted

SPEC = """
model arrays "neighbour sums, a coupling matrix, extremes"
variables {
  s : binary[4, 5]
  x : real[3]
}
params {
  K = [[0, 1, 0], [1, 0, 1], [0, 1, 0]] fixed
  W[3, 3] = normal(std = 0.5)
}
energy {
  z = 2 * s - 1
  a = sum(z * conv(z, kernel = K))
  b = sum(z * conv(z, kernel = K, periodic = false))
  return 0.1 * a + 0.2 * b + sum(matmul(W, x) * x) + sum(max(x, 0.5)) - min(x)
    + sum(max(z, axis = 1)) + sum(min(matmul(x, W), -0.2))
}
"""


def test_ops_equal_torch():
    program = compile_spec(Source("arrays.ebm", SPEC))
    model = lower_energy(program, seed=0)
    values = random_values(program, 5, torch.Generator().manual_seed(2))
    s, x = values["s"], values["x"]
    z = 2 * s - 1
    torus = torch.roll(z, 1, 1) + torch.roll(z, -1, 1) + torch.roll(z, 1, 2) + torch.roll(z, -1, 2)
    padded = F.pad(z, (1, 1, 1, 1))
    open_ = padded[:, :-2, 1:-1] + padded[:, 2:, 1:-1] + padded[:, 1:-1, :-2] + padded[:, 1:-1, 2:]
    W = model.params.get("W", 1)[0]
    expected = (
        0.1 * (z * torus).sum((1, 2))
        + 0.2 * (z * open_).sum((1, 2))
        + ((x @ W.t()) * x).sum(1)
        + x.clamp_min(0.5).sum(1)
        - x.amin(1)
        + z.amax(2).sum(1)
        + (x @ W).clamp_max(-0.2).sum(1)
    )
    with torch.no_grad():
        assert torch.allclose(model(values), expected, atol=1e-5)


def test_emitted_module_reproduces_them(tmp_path):
    assert_exact(compare_emitted(compile_spec(Source("arrays.ebm", SPEC)), tmp_path))


INLINE = """
model lit "tensor literals in expressions"
variables {
  x : real[2]
  s : binary[4, 4]
}
energy {
  z = 2 * s - 1
  return gaussian(x, mean = [0, 1], std = 2)
    + 0.2 * sum(z * conv(z, kernel = [[0, 1, 0], [1, 0, 1], [0, 1, 0]]))
}
"""


def test_inline_literals_are_fixed_constants(tmp_path):
    program = compile_spec(Source("lit.ebm", INLINE))
    assert all(p.fixed and p.name.startswith("literal@") for p in program.params)
    model = lower_energy(program, seed=0)
    assert not list(model.parameters())  # constants, not learned
    values = random_values(program, 3, torch.Generator().manual_seed(4))
    z = 2 * values["s"] - 1
    torus = torch.roll(z, 1, 1) + torch.roll(z, -1, 1) + torch.roll(z, 1, 2) + torch.roll(z, -1, 2)
    normal = torch.distributions.Normal(torch.tensor([0.0, 1.0]), 2.0)
    expected = normal.log_prob(values["x"]).sum(1) + 0.2 * (z * torus).sum((1, 2))
    with torch.no_grad():
        assert torch.allclose(model(values), expected, atol=1e-5)
    assert_exact(compare_emitted(program, tmp_path))
