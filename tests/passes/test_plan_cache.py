"""The cache planner: which moves split the energy, and the work it predicts per cached sweep is
exactly what the runtime spends (`Target`'s counters), for every kernel and block order."""

from __future__ import annotations

import pytest
import torch

from ebmspec.api import compile_file, compile_spec
from ebmspec.passes import plan_cache
from ebmspec.passes.plan_sweep import Cost, plan_sweeps
from ebmspec.runtime.model.energy import lower_energy
from ebmspec.runtime.sampling.sampler import sample
from ebmspec.source import Source
from tests.conftest import ROOT

# A CNN on an 8x8 image beside three label-like variables and a small real one: the CNN carries
# most of the work, so moves of y, b, z alone split the energy.
CNN = """\
model cnnmix "labels beside an image network"

variables {
  x : real[1, 8, 8]
  y : categorical(3)[2]
  b : binary[3]
  z : real[2]
}

energy {
  h = cnn(x, channels = [16, 32], kernels = [3, 3], act = silu)
  return mlp(concat(flatten(h), onehot(y), b, z), hidden = [8]) + gaussian(z, mean = 0.0)
}

sampler s {
%s
  sweeps = 1
}
"""

# (blocks, steady cached cost per sweep as passes, forwards, head passes, head forwards, static
# forwards, static backwards)
L = "langevin(step = 0.01)"
CASES = [
    (f"update y, b with gwg\n  update x, z with {L}", (0, 0, 2, 0, 1, 1)),
    # MALA leaves f and every gradient: the next GWG reuses them and proposes in full (fused).
    ("update y, b with gwg\n  update x, z with mala(step = 0.01)", (2, 0, 0, 0, 0, 0)),
    (f"update y, b with gwg repeat 2\n  update x, z with {L}", (0, 0, 3, 0, 1, 1)),
    (f"update y, b with gibbs\n  update x, z with {L}", (0, 0, 1, 5, 1, 1)),
    ("update y, b with gibbs(joint = true)\n  update x, z with mala(step = 0.01)",
     (1, 0, 1, 1, 1, 1)),
    (f"update y with metropolis\n  update b with gwg\n  update x, z with {L}",
     (0, 0, 2, 2, 2, 1)),
    (f"update x, z with {L} repeat 2\n  update y, b with gwg", (1, 0, 2, 0, 1, 1)),
    ("update y, b with gwg\n  update x, z with hmc(step = 0.01, leapfrog = 3)",
     (4, 0, 0, 0, 0, 0)),
    # Moves of z leave the CNN alone too: its block keeps a static part of its own.
    (f"update y, b with gwg\n  update z with {L}\n  update x with {L}", (1, 0, 3, 0, 2, 0)),
]  # fmt: skip


def counts(target) -> tuple[int, ...]:
    """The `Target`'s work counters, in `Cost.counts` order."""
    return (
        target.passes,
        target.forwards,
        target.head_passes,
        target.head_forwards,
        target.root_forwards,
        target.root_backwards,
    )


def _program(blocks: str):
    return compile_spec(Source("cnnmix.ebm", CNN % ("  " + blocks)))


def test_image_network_moves_split_and_small_energies_do_not():
    program = compile_file(ROOT / "specs" / "dsprites_joint.ebm")
    plans = plan_cache.plan_caches(program)
    assert set(plans) == {("x_pos",), ("y_pos",), ("x_pos", "y_pos")}
    split = plans[("x_pos", "y_pos")]
    assert split.static_lets == ("h",)
    (share,) = split.roots
    assert isinstance(share, plan_cache.Share)
    assert share.columns == tuple(range(256)) and share.free_columns == tuple(range(256, 288))
    # The CNN (6.47M multiply-adds per image) and the share are static; the head is the MLP rest.
    assert split.root_macs == 6_471_680 + 256 * 256
    assert split.head_macs == 32 * 256 + 256 * 256 + 256
    assert plan_cache.plan_caches(compile_file(ROOT / "specs" / "toy_joint.ebm")) == {}
    mnist = plan_cache.plan_caches(compile_file(ROOT / "specs" / "mnist_joint.ebm"))
    assert set(mnist) == {("y",)}  # the 784 pixel columns of the first layer


def test_unfolded_split_keeps_the_parts_as_roots():
    program = _program("update y, b with gwg")
    split = plan_cache.split_energy(program.energy, ("b", "y"), fold=False)
    described = split.describe()
    assert described == ["flatten(`h`)", "`z`", "gaussian(`z`, 0.0)"]


@pytest.mark.parametrize(("blocks", "expected"), CASES)
def test_planned_cached_work_is_the_runtime_work(blocks, expected):
    program = _program(blocks)
    (plan,) = plan_sweeps(program)
    assert plan.cached_cost.counts == expected
    model = lower_energy(program, seed=0)

    _, target = sample(program, model, 4, sweeps=1, seed=0)
    first = counts(target)
    _, target = sample(program, model, 4, sweeps=4, seed=0)
    steady = tuple((b - a) // 3 for a, b in zip(first, counts(target), strict=True))
    assert steady == expected
    assert tuple(3 * c for c in steady) == tuple(
        b - a for a, b in zip(first, counts(target), strict=True)
    )


def test_dsprites_cached_sweep_costs_one_cnn_forward_and_backward():
    program = compile_file(ROOT / "specs" / "dsprites_joint.ebm")
    (plan,) = plan_sweeps(program)
    assert plan.cached_cost == Cost(head_passes=2, root_forwards=1, root_backwards=1)
    assert [b.entry for b in plan.cached] == ["static", "backward"]
    # Per chain: fused 2 full passes, cached 1 CNN forward + 1 backward + 2 head passes.
    ratio = plan.macs(plan.fused_cost) / plan.macs(plan.cached_cost)
    assert 1.9 < ratio < 2.0
    model = lower_energy(program, seed=0)
    with torch.no_grad():
        _, target = sample(program, model, 3, sweeps=5, seed=0)
    assert (target.passes, target.root_forwards, target.root_backwards) == (0, 5, 5)
    assert target.head_passes == 10


RING = CNN.replace(
    "hidden = [8]) + gaussian(z, mean = 0.0)",
    "hidden = [8]) + gaussian(z, mean = 0.0)\n"
    "    + dot(linear(flatten(h), out = 3), b) + sum(b * roll(b, shift = 1, axis = 0))",
).replace("onehot(y), b, z)", "onehot(y), z)")


def test_coloured_gibbs_beside_a_cached_network_spends_what_is_planned():
    """b enters f through a ring term and a product with the CNN's features: 3 colours drawn by
    gradient, each one head pass from one static part (the CNN once forward), then the held
    variables' gradients by one backward from it."""
    blocks = f"update b with gibbs\n  update y with gwg\n  update x, z with {L}"
    program = compile_spec(Source("ring.ebm", RING % ("  " + blocks)))
    block = program.samplers[0].blocks[0]
    assert (block.colouring.count, block.colouring.draw) == (3, "gradient")
    (plan,) = plan_sweeps(program)
    model = lower_energy(program, seed=0)

    _, target = sample(program, model, 4, sweeps=1, seed=0)
    first = counts(target)
    _, target = sample(program, model, 4, sweeps=4, seed=0)
    steady = tuple((b - a) / 3 for a, b in zip(first, counts(target), strict=True))
    assert steady == plan.cached_cost.counts
    assert plan.cached_cost.head_passes >= 3 and plan.cached_cost.passes == 0
