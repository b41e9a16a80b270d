"""Step-size adaptation (dual averaging, Hoffman & Gelman 2014) of `mala` and `hmc`.

From a step far too large, the block's acceptance rate after its `adapt` warm-up transitions is
the target's (within 0.08 over 256 chains x 200 transitions), where the untuned step is rejected
almost always; after warm-up the step no longer moves (the chain is a fixed, exact kernel: the
exactness suite samples the exact law with adaptation on,
tests/runtime/sampling/kernels/test_exactness.py).
"""

from __future__ import annotations

import pytest
import torch

from ebmspec.api import compile_spec
from ebmspec.runtime.model.energy import lower_energy
from ebmspec.runtime.sampling.sampler import sample
from ebmspec.source import Source

SPEC = """model g

variables {
  x : real[20]
}

energy {
  return gaussian(x)
}

sampler s {
  init x ~ normal
  update x with %s
  sweeps = 400
}
"""


def _rates(kernel: str):
    program = compile_spec(Source("g.ebm", SPEC % kernel))
    model = lower_energy(program, seed=0)
    seen = []
    state, _ = sample(program, model, 256, seed=0, callback=lambda s: seen.append(s.kernels[0]))
    warm, last = seen[199], seen[-1]
    after = ((last.accepted - warm.accepted) / (last.steps - warm.steps)).mean().item()
    return after, warm, last


@pytest.mark.parametrize(
    ("kernel", "target"),
    [("mala(step = 3, adapt = 200)", 0.574), ("hmc(step = 2, leapfrog = 5, adapt = 200)", 0.65),
     ("mala(step = 0.001, adapt = 200, target = 0.8)", 0.8)],
)  # fmt: skip
def test_adapted_step_reaches_the_target_acceptance(kernel, target):
    after, warm, last = _rates(kernel)
    assert after == pytest.approx(target, abs=0.08)
    assert torch.equal(warm.tune.log_bar, last.tune.log_bar)  # frozen after warm-up
    untuned, _, _ = _rates(kernel.split(", adapt")[0] + ")")
    assert abs(untuned - target) > 0.15  # the starting step alone is far off
