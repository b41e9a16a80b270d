"""Reductions and flattening of per-example scalars (e.g. `sum(linear(y))`, whose default output
is one number per example) run, and equal the scalar itself."""

from __future__ import annotations

import torch

from ebmspec.api import compile_spec
from ebmspec.runtime.model.energy import lower_energy, random_values
from ebmspec.source import Source

SPEC = """\
model scalars "reductions of per-example scalars"
variables { y : real[2] }
energy { s = linear(y)
  return sum(s) + mean(s) + logsumexp(s) + sum(flatten(s)) - 4 * s }
"""


def test_reductions_of_a_per_example_scalar_are_the_scalar():
    program = compile_spec(Source("scalars.ebm", SPEC))
    model = lower_energy(program, seed=0)
    values = random_values(program, 5, torch.Generator().manual_seed(0))
    f = model(values)
    assert f.shape == (5,)
    torch.testing.assert_close(f, torch.zeros(5), atol=1e-5, rtol=0)
