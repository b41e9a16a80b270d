"""Clamped variables never change during sampling, for every kernel on every domain.

One model holds a binary array, a categorical array, a real vector and a bounded real vector,
coupled through one MLP. Every discrete kernel (GWG with one and three flips, Gibbs, Metropolis)
is paired with every continuous kernel (Langevin, MALA, HMC, Metropolis), and each pair runs
under every conditioning of CONDITIONS: whole-variable clamps (`{name: value}`, shared or per
chain, down to a block with nothing left to update) and element masks (`{name: (value, mask)}`,
per-chain masks, masks that clamp a whole variable). After every sweep each clamped element must
equal its given value bit for bit; at the end every variable with free elements must have moved
somewhere, so that a kernel which moves nothing cannot pass. On a CUDA device everything runs
again on the GPU (marker `cuda`, skipped without one).
"""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F

from ebmspec.api import compile_spec
from ebmspec.runtime.model.energy import lower_energy
from ebmspec.runtime.sampling.kernels.jump import shift_key
from ebmspec.runtime.sampling.sampler import sample
from ebmspec.source import Source

CUDA = pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device")
DEVICES = ["cpu", pytest.param("cuda", marks=[pytest.mark.cuda, CUDA])]
CHAINS = 64
SWEEPS = 15
SHAPES = {"s": (6,), "y": (3,), "x": (3,), "r": (3,)}  # without the one-hot axis of y

DISCRETE = ["gwg", "gwg(flips = 3)", "gibbs", "metropolis", "dmala"]
REAL = [
    "langevin(step = 0.05)",
    "mala(step = 0.05)",
    "hmc(step = 0.1, leapfrog = 3)",
    "metropolis(scale = 0.3)",
]


def _spec(discrete: str, real: str) -> str:
    return f"""\
model clamping

variables {{
  s : binary[6]
  y : categorical(4)[3]
  x : real[3]
  r : real[3] in [-2, 2]
}}

energy {{
  h = concat(s, flatten(onehot(y)), x, r)
  return mlp(h, hidden = [8], act = tanh) + gaussian(x, mean = 0.5) + gaussian(r, mean = -0.5)
}}

sampler main {{
  init s, y ~ uniform
  init x ~ normal
  init r ~ uniform
  update s, y with {discrete}
  update x, r with {real}
  sweeps = {SWEEPS}
}}
"""


def _values(seed: int, per_chain: bool) -> dict:
    """Clamp values: one shared value per variable, or one per chain ([CHAINS, ...])."""
    generator = torch.Generator().manual_seed(seed)
    lead = (CHAINS,) if per_chain else ()
    return {
        "s": torch.randint(0, 2, (*lead, 6), generator=generator).float(),
        "y": F.one_hot(torch.randint(0, 4, (*lead, 3), generator=generator), 4).float(),
        "x": torch.randn((*lead, 3), generator=generator),
        "r": torch.rand((*lead, 3), generator=generator) * 4 - 2,
    }


def _masks(seed: int) -> dict:
    """Per-chain element masks (True = clamped) that clamp about half of every variable."""
    generator = torch.Generator().manual_seed(seed)
    return {
        name: torch.rand((CHAINS, *shape), generator=generator) < 0.5
        for name, shape in SHAPES.items()
    }


_SHARED, _PER_CHAIN, _MASKS = _values(1, False), _values(2, True), _masks(3)
_ALL = {name: torch.ones(shape, dtype=torch.bool) for name, shape in SHAPES.items()}
CONDITIONS = {
    "whole s, x (shared)": {"s": _SHARED["s"], "x": _SHARED["x"]},
    "whole y, r (per chain)": {"y": _PER_CHAIN["y"], "r": _PER_CHAIN["r"]},
    "whole s, y: no discrete block left": {"s": _SHARED["s"], "y": _PER_CHAIN["y"]},
    "element masks on all four": {n: (_PER_CHAIN[n], _MASKS[n]) for n in SHAPES},
    "masks clamping all of s and r": {
        "s": (_SHARED["s"], _ALL["s"]),
        "y": (_SHARED["y"], _MASKS["y"]),
        "x": (_PER_CHAIN["x"], _MASKS["x"]),
        "r": (_PER_CHAIN["r"], _ALL["r"]),
    },
}


def _expected(name: str, given) -> tuple[torch.Tensor, torch.Tensor]:
    """The value each chain must keep ([B, *shape(, K)]) and where ([B, *shape] bool)."""
    value, mask = given if isinstance(given, tuple) else (given, None)
    categorical = name == "y"
    core = len(SHAPES[name]) + (1 if categorical else 0)
    value = value.expand(CHAINS, *value.shape[-core:])
    if mask is None:
        mask = torch.ones(SHAPES[name], dtype=torch.bool)
    return value, mask.expand(CHAINS, *SHAPES[name])


@pytest.fixture(autouse=True, scope="module")
def one_thread():
    """Tiny tensors: extra threads only spin (see test_exactness)."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


@pytest.fixture(scope="module")
def programs():
    """Compiled programs and energies per kernel pair and device (built once for all
    conditionings)."""
    cache = {}

    def get(discrete: str, real: str, device: str):
        if (discrete, real, device) not in cache:
            program = compile_spec(Source("clamping.ebm", _spec(discrete, real)))
            cache[discrete, real, device] = (program, lower_energy(program, seed=0).to(device))
        return cache[discrete, real, device]

    return get


@pytest.mark.parametrize("device", DEVICES)
@pytest.mark.parametrize("condition", CONDITIONS, ids=str)
@pytest.mark.parametrize("real", REAL)
@pytest.mark.parametrize("discrete", DISCRETE)
def test_clamped_elements_never_change(discrete, real, condition, device, programs):
    program, energy = programs(discrete, real, device)
    given = CONDITIONS[condition]
    expected = {name: _expected(name, g) for name, g in given.items()}
    history = []

    def check(state) -> None:
        values = {name: v.cpu() for name, v in state.point.values.items()}
        for name, (value, mask) in expected.items():
            got = values[name]
            assert torch.isfinite(got).all(), f"{name}: non-finite values"
            same = got == value
            if name == "y":
                same = same.all(-1)
            assert same[mask].all(), f"{name}: a clamped element changed at sweep {state.sweeps}"
        history.append({name: v.clone() for name, v in values.items()})

    sample(program, energy, CHAINS, seed=7, condition=given, device=device, callback=check)
    assert len(history) == SWEEPS
    first, last = history[0], history[-1]
    for name, shape in SHAPES.items():
        free = ~expected[name][1] if name in expected else torch.ones(CHAINS, *shape, dtype=bool)
        if not free.any():
            continue
        changed = last[name] != first[name]
        if name == "y":
            changed = changed.any(-1)
        assert changed[free].any(), f"{name}: no free element moved in {SWEEPS} sweeps"
        assert not changed[~free].any()


def _jump_stats(seed: int) -> dict:
    """Random shift tables for `jump` over (s, y): one row per joint value (2^6 x 4^3)."""
    generator = torch.Generator().manual_seed(seed)
    rows = 2**6 * 4**3
    return {
        name: {shift_key(("s", "y")): 0.3 * torch.randn(rows, 3, generator=generator)}
        for name in ("x", "r")
    }


@pytest.mark.parametrize("device", DEVICES)
@pytest.mark.parametrize("condition", CONDITIONS, ids=str)
@pytest.mark.parametrize("kernel", ["jump", "jump(gibbs = true)"])
def test_jump_keeps_clamped_elements(kernel, condition, device):
    """The joint move shifts x and r with the labels: clamped label elements restrict the
    orbit, clamped real elements are not shifted, r stays in its box. With no real kernel in
    the sampler, every free element that moves was moved by the jump."""
    text = _spec("gibbs", "mala(step = 0.05)").replace(
        "  update s, y with gibbs\n  update x, r with mala(step = 0.05)\n",
        f"  update s, y, x, r with {kernel}\n",
    )
    program = compile_spec(Source("clamping.ebm", text))
    energy = lower_energy(program, seed=0).to(device)
    given = CONDITIONS[condition]
    expected = {name: _expected(name, g) for name, g in given.items()}
    stats = {n: {k: t.to(device) for k, t in e.items()} for n, e in _jump_stats(4).items()}
    frames = []

    def check(state) -> None:
        values = {name: v.cpu() for name, v in state.point.values.items()}
        for name, (value, mask) in expected.items():
            same = values[name] == value
            same = same.all(-1) if name == "y" else same
            assert same[mask].all(), f"{name}: a clamped element changed at sweep {state.sweeps}"
        assert ((values["r"] >= -2) & (values["r"] <= 2)).all(), "r left its box"
        frames.append(values)

    start = sample(
        program, energy, CHAINS, sweeps=0, seed=7, condition=given, stats=stats, device=device
    )[0].point.values
    sample(program, energy, CHAINS, seed=7, condition=given, stats=stats, device=device,
           callback=check)  # fmt: skip
    labels_free = [n for n in ("s", "y") if n not in given or isinstance(given[n], tuple)]
    for name in ("s", "y", "x", "r"):
        free = ~expected[name][1] if name in expected else torch.ones(CHAINS, *SHAPES[name]) > 0
        changed = frames[-1][name] != start[name].cpu()
        changed = changed.any(-1) if name == "y" else changed
        if labels_free and free.any():
            assert changed[free].any(), f"{name}: no free element moved in {SWEEPS} sweeps"
        else:  # no label can change: the block is dropped and nothing moves
            assert not changed.any()
