"""Specialising the energy on clamped variables (`EnergyModel.specialize`) changes no number.

The specialised energy must equal the full one (values and the gradients GWG / Langevin read)
for every subset of fixed variables on the three shipped specs and on a spec with lets that mix
fixed and free variables, constants and aliases. `sample` with x clamped must give the same chains
with and without specialisation, and on dSprites the CNN h(x) must run once per run instead of
once per step (counted with a forward hook; the measured speed-up is printed, not asserted).
"""

from __future__ import annotations

import itertools
import time

import pytest
import torch

from ebmspec.api import compile_file, compile_spec
from ebmspec.runtime.model.energy import lower_energy, random_values
from ebmspec.runtime.sampling.sampler import sample
from ebmspec.source import Source
from tests.conftest import SPECS

BATCH = 6
TOLERANCE = 1e-5

MIXED = """\
model mixed_lets

variables {
  x : real[3]
  s : binary[2]
  y : categorical(4)
}

energy {
  c = 2
  a = x
  g = tanh(linear(concat(a, s), out = 4))
  k = g * c
  return dot(k, onehot(y)) + sum(a) * c + mlp(concat(x, onehot(y)), hidden = [5]) + linear(x)
}

sampler main {
  init x ~ normal
  init s, y ~ uniform
  update s, y with gwg
  update x with langevin(step = 0.01)
  sweeps = 4
}

sampler scan {
  init x ~ normal
  init s, y ~ uniform
  update s, y with gibbs
  update x with mala(step = 0.05)
  sweeps = 4
}

sampler walk {
  init x ~ normal
  init s, y ~ uniform
  update s with metropolis
  update y with gibbs
  update x with metropolis(scale = 0.3)
  sweeps = 4
}
"""


def _programs():
    programs = {spec.stem: compile_file(spec) for spec in SPECS}
    programs["mixed_lets"] = compile_spec(Source("mixed_lets.ebm", MIXED))
    return programs


PROGRAMS = _programs()


def _subsets(names):
    return [c for r in range(1, len(names) + 1) for c in itertools.combinations(names, r)]


CASES = [
    pytest.param(name, subset, id=f"{name}-{'+'.join(subset)}")
    for name, program in PROGRAMS.items()
    for subset in _subsets([v.name for v in program.variables])
]


@pytest.fixture(autouse=True)
def seeded():
    torch.manual_seed(0)


def _energy_and_grads(energy, values: dict, names) -> tuple[torch.Tensor, dict]:
    leaves = {n: values[n].detach().clone().requires_grad_(True) for n in names}
    f = energy({**values, **leaves})
    grads = torch.autograd.grad(f.sum(), list(leaves.values())) if leaves else ()
    return f.detach(), dict(zip(leaves, grads, strict=True))


@pytest.mark.parametrize("fold", [False, True], ids=["hoist", "fold"])
@pytest.mark.parametrize(("name", "fixed"), CASES)
def test_specialised_energy_equals_the_full_one(name, fixed, fold):
    """Hoisting alone runs the same operations: bit for bit. Folding: float rounding."""
    program = PROGRAMS[name]
    model = lower_energy(program, seed=0)
    values = random_values(program, BATCH, torch.Generator().manual_seed(1))
    free = [v.name for v in program.variables if v.name not in fixed]
    special = model.specialize({n: values[n] for n in fixed}, fold=fold)
    f_full, g_full = _energy_and_grads(model, values, free)
    f_spec, g_spec = _energy_and_grads(special, values, free)
    tolerance = TOLERANCE if fold else 0.0
    torch.testing.assert_close(f_spec, f_full, rtol=tolerance, atol=tolerance)
    for n in free:
        torch.testing.assert_close(g_spec[n], g_full[n], rtol=tolerance, atol=tolerance)
    # The fixed entries are not read: leaving them out gives the same f.
    if free:
        only_free = {n: values[n] for n in free}
        torch.testing.assert_close(special(only_free), f_full, rtol=TOLERANCE, atol=TOLERANCE)


def _share(mlp: str, held: int, total: int) -> str:
    return f"share of `{mlp}`'s first layer over {held} of its {total} inputs"


@pytest.mark.parametrize(
    ("name", "lets", "roots"),
    [
        ("toy_joint", (), [_share("return", 2, 8)]),
        ("mnist_joint", (), [_share("return", 784, 794)]),
        ("dsprites_joint", ("h",), [_share("return", 256, 288)]),
        (
            "mixed_lets",
            ("c", "a"),
            [_share("g", 3, 5), "mul(sum(`a`), `c`)", _share("return_mlp", 3, 7), "mlp(`x`)"],
        ),
    ],
)
def test_what_is_precomputed_with_x_fixed(name, lets, roots):
    """Each MLP on concat(x part, free part) has its x columns folded into a per-chain bias
    (dSprites: the CNN h(x) is computed once as well); in mixed_lets `a = x`, sum(a) * c and
    linear(x) are computed once, and both MLPs on a concat (mlp(x, y) and linear(a, s)) are
    folded. Without `fold` no first layer is split."""
    program = PROGRAMS[name]
    model = lower_energy(program, seed=0)
    values = random_values(program, BATCH, torch.Generator().manual_seed(1))
    plain = model.specialize({"x": values["x"]}).parts.plan
    assert not any("share" in root for root in plain.describe())
    plan = model.specialize({"x": values["x"]}, fold=True).parts.plan
    assert (plan.static_lets, plan.describe()) == (lets, roots)


def test_tile_repeats_the_fixed_batch_copy_major():
    program = PROGRAMS["dsprites_joint"]
    model = lower_energy(program, seed=0)
    values = random_values(program, BATCH, torch.Generator().manual_seed(2))
    tiled = model.specialize({"x": values["x"]}, fold=True).tile(3)
    labels = random_values(program, 3 * BATCH, torch.Generator().manual_seed(3))
    full = model({**labels, "x": values["x"].repeat(3, 1, 1, 1)})
    got = tiled({"x_pos": labels["x_pos"], "y_pos": labels["y_pos"]})
    torch.testing.assert_close(got, full, rtol=TOLERANCE, atol=TOLERANCE)


def test_a_batch_that_is_no_multiple_is_refused():
    program = PROGRAMS["toy_joint"]
    model = lower_energy(program, seed=0)
    values = random_values(program, BATCH, torch.Generator().manual_seed(4))
    special = model.specialize({"x": values["x"]})
    with pytest.raises(ValueError, match="batch of 6 chains"):
        special({"y": values["y"][:4]})
    # A multiple of the batch is read as copies of the chains, copy-major (Gibbs' layout).
    y = random_values(program, 2 * BATCH, torch.Generator().manual_seed(5))["y"]
    full = model({"x": values["x"].repeat(2, 1), "y": y})
    assert torch.equal(special({"y": y}), full)


def _sharp_dsprites():
    """The dSprites network at seed 0 with the position weights scaled so that GWG accepts about
    half of its proposals (as in test_fusion): both accept and reject branches run."""
    program = PROGRAMS["dsprites_joint"]
    model = lower_energy(program, seed=0)
    with torch.no_grad():
        model.blocks["return"].net[0].weight[:, 256:] *= 300.0
    return program, model


@pytest.mark.parametrize("name", ["toy_joint", "mnist_joint", "dsprites_joint"])
def test_clamped_sampling_gives_the_same_chains(name):
    if name == "dsprites_joint":
        program, model = _sharp_dsprites()
    else:
        program = PROGRAMS[name]
        model = lower_energy(program, seed=0)
    chains = 16
    x = random_values(program, chains, torch.Generator().manual_seed(5))["x"]
    runs = [
        sample(
            program,
            model,
            chains,
            sweeps=10,
            seed=3,
            condition={"x": x},
            specialize=flag,
            cache=False,
        )
        for flag in (True, False)
    ]
    (special, target), (plain, _) = runs
    assert type(target.energy).__name__ == "SpecializedEnergy"
    for variable, value in special.point.values.items():
        assert torch.equal(value, plain.point.values[variable]), variable
    for a, b in zip(special.kernels, plain.kernels, strict=True):
        assert torch.equal(a.accepted, b.accepted)
    if special.point.f is not None:
        assert torch.equal(special.point.f, plain.point.f)


@pytest.mark.parametrize("sampler", ["main", "scan", "walk"])
@pytest.mark.parametrize("clamped", [("x",), ("s",), ("y",), ("x", "s"), ("s", "y")])
def test_every_kernel_gives_the_same_chains_specialised(sampler, clamped):
    """GWG, Gibbs (which scores K copies of the chains at once), Metropolis, Langevin, MALA."""
    program = PROGRAMS["mixed_lets"]
    model = lower_energy(program, seed=0)
    values = random_values(program, 12, torch.Generator().manual_seed(7))
    condition = {name: values[name] for name in clamped}
    runs = [
        sample(
            program,
            model,
            12,
            seed=2,
            condition=condition,
            sampler=sampler,
            specialize=flag,
            cache=False,
        )
        for flag in (True, False)
    ]
    (special, _), (plain, _) = runs
    for variable, value in special.point.values.items():
        assert torch.equal(value, plain.point.values[variable]), variable
    for a, b in zip(special.kernels, plain.kernels, strict=True):
        assert torch.equal(a.accepted, b.accepted)
        assert torch.equal(a.hops, b.hops)


def test_dsprites_cnn_runs_once_per_clamped_run():
    program, model = _sharp_dsprites()
    calls = []
    hook = model.blocks["h"].register_forward_hook(lambda *_: calls.append(1))
    chains, sweeps = 50, 10
    x = random_values(program, chains, torch.Generator().manual_seed(6))["x"]
    seconds = {}
    try:
        # Specialised, plain, and cached (the static part is kept while nothing moves x).
        for flag, cache in ((True, False), (False, False), (False, True)):
            calls.clear()
            start = time.perf_counter()
            sample(
                program,
                model,
                chains,
                sweeps=sweeps,
                condition={"x": x},
                specialize=flag,
                cache=cache,
            )
            seconds[flag] = time.perf_counter() - start
            if flag or cache:
                assert len(calls) == 1
            else:
                assert len(calls) >= sweeps
    finally:
        hook.remove()
    ratio = seconds[False] / seconds[True]
    print(
        f"dSprites, {chains} chains x {sweeps} sweeps, x clamped: plain {seconds[False]:.3f}s, "
        f"specialised {seconds[True]:.3f}s, ratio {ratio:.1f}x"
    )


def test_partial_clamps_are_not_specialised():
    """A (value, mask) clamp leaves the variable movable: the energy is used as it is."""
    program = PROGRAMS["toy_joint"]
    model = lower_energy(program, seed=0)
    x = torch.zeros(2)
    mask = torch.tensor([True, False])
    _, target = sample(program, model, 4, sweeps=2, condition={"x": (x, mask)})
    assert target.energy is model
