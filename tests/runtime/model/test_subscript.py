"""Integer indexing, slicing and `roll` in the energy: lattice energies written with slices (open
boundaries) and rolls (a torus) equal the same sums written out, and the shapes follow Python's
rules."""

from __future__ import annotations

import torch

from ebmspec.api import compile_spec
from ebmspec.runtime.model.energy import lower_energy
from ebmspec.source import Source
from tests.runtime.sampling.ground_truth import iid_floor, total_variation

LATTICE = """
model ising "a 4 x 5 lattice, open boundaries"
variables { s : binary[4, 5] }
energy {
  z = 2 * s - 1
  return 0.4 * (sum(z[:, 1:] * z[:, :-1]) + sum(z[1:, :] * z[:-1, :])) + 0.1 * sum(z[0])
    - z[3, -1] + sum(z[::2, 1:4:2])
}
"""


def test_lattice_energy_by_slices_equals_the_written_out_sums():
    program = compile_spec(Source("ising.ebm", LATTICE))
    model = lower_energy(program)
    s = torch.randint(0, 2, (16, 4, 5), generator=torch.Generator().manual_seed(0)).float()
    z = 2 * s - 1
    expected = torch.zeros(16)
    for i in range(4):
        for j in range(5):
            if j + 1 < 5:
                expected += 0.4 * z[:, i, j] * z[:, i, j + 1]
            if i + 1 < 4:
                expected += 0.4 * z[:, i, j] * z[:, i + 1, j]
    expected += 0.1 * z[:, 0].sum(1) - z[:, 3, 4] + z[:, 0, [1, 3]].sum(1) + z[:, 2, [1, 3]].sum(1)
    assert torch.allclose(model({"s": s}), expected, atol=1e-5)


def test_subscript_shapes_follow_python():
    lets = "  a = z[1:3, ::2]\n  b = z[-1]\n  c = z[0:4:3, 2]\n  return"
    text = LATTICE.replace("  return", lets)
    program = compile_spec(Source("ising.ebm", text))
    lets = {let.name: let.value.shape for let in program.energy.lets}
    assert lets["a"] == (2, 3) and lets["b"] == (5,) and lets["c"] == (2,)


def test_torus_energy_by_roll_equals_the_written_out_sums():
    text = """
model torus "a 3 x 4 torus"
variables { s : binary[3, 4] }
energy {
  z = 2 * s - 1
  return 0.3 * sum(z * roll(z, shift = 1, axis = 0) + z * roll(z, shift = -1, axis = -1))
}
"""
    model = lower_energy(compile_spec(Source("torus.ebm", text)))
    s = torch.randint(0, 2, (8, 3, 4), generator=torch.Generator().manual_seed(1)).float()
    z = 2 * s - 1
    expected = torch.zeros(8)
    for i in range(3):
        for j in range(4):
            expected += 0.3 * z[:, i, j] * (z[:, (i - 1) % 3, j] + z[:, i, (j + 1) % 4])
    assert torch.allclose(model({"s": s}), expected, atol=1e-5)


def test_shipped_ising_spec_samples_the_exact_law_on_a_3x3_torus():
    """specs/ising.ebm shrunk to 3 x 3 (512 states): 10,000 chains of its per-site Gibbs, 30
    sweeps, against the enumerated law: TV at most 1.5 x the i.i.d. floor (the mean TV of 5
    i.i.d. samples of the same size), as in the kernel exactness suite."""
    from ebmspec.runtime.model.energy import variable_table
    from ebmspec.runtime.sampling.sampler import sampler_table
    from ebmspec.runtime.sampling.schedule import run_conditioned
    from tests.conftest import ROOT

    text = (ROOT / "specs" / "ising.ebm").read_text().replace("binary[8, 8]", "binary[3, 3]")
    program = compile_spec(Source("ising.ebm", text))
    model = lower_energy(program)
    chains = 10000
    with torch.no_grad():
        state, _ = run_conditioned(
            model, variable_table(program), sampler_table(program.sampler("gibbs")), chains,
            torch.Generator().manual_seed(3), 30,
        )  # fmt: skip
        codes = (state.point.values["s"].reshape(chains, 9).long() << torch.arange(9)).sum(1)
        every = ((torch.arange(512)[:, None] >> torch.arange(9)) & 1).float().reshape(512, 3, 3)
        exact = torch.softmax(model({"s": every}).double(), 0).numpy()[None]
    counts = torch.bincount(codes, minlength=512).numpy()[None]
    tv, floor = total_variation(counts, exact), iid_floor(exact, chains, seed=4, draws=5)
    assert tv <= 1.5 * floor, (tv, floor)


def test_shipped_potts_spec_counts_agreeing_neighbours_and_samples_the_exact_law():
    """specs/potts.ebm: f is J times the agreeing torus neighbour pairs (checked on random 6 x 6
    states); shrunk to a 2 x 3 torus (729 states), 20,000 chains of its per-site Gibbs match the
    enumerated law within 1.5 x the i.i.d. TV floor."""
    from ebmspec.runtime.model.energy import variable_table
    from ebmspec.runtime.sampling.sampler import sampler_table
    from ebmspec.runtime.sampling.schedule import run_conditioned
    from tests.conftest import ROOT

    text = (ROOT / "specs" / "potts.ebm").read_text()
    model = lower_energy(compile_spec(Source("potts.ebm", text)))
    y = torch.randint(0, 3, (5, 6, 6), generator=torch.Generator().manual_seed(5))
    agree = (y == torch.roll(y, 1, 1)).sum((1, 2)) + (y == torch.roll(y, 1, 2)).sum((1, 2))
    hot = torch.nn.functional.one_hot(y, 3).float()
    assert torch.allclose(model({"y": hot}), 0.8 * agree.float(), atol=1e-5)

    small = text.replace("[6, 6]", "[2, 3]").replace("[6, 6, 3]", "[2, 3, 3]")
    program = compile_spec(Source("potts.ebm", small))
    model = lower_energy(program)
    chains = 20000
    codes = torch.arange(729)[:, None] // 3 ** torch.arange(6) % 3  # [729, 6] base-3 digits
    every = torch.nn.functional.one_hot(codes, 3).float().reshape(729, 2, 3, 3)
    with torch.no_grad():
        state, _ = run_conditioned(
            model, variable_table(program), sampler_table(program.sampler("gibbs")), chains,
            torch.Generator().manual_seed(6), 30,
        )  # fmt: skip
        exact = torch.softmax(model({"y": every}).double(), 0).numpy()[None]
        # negative control: the same chains against the law of a weaker coupling are far off
        wrong = torch.softmax(0.5 * model({"y": every}).double(), 0).numpy()[None]
    drawn = state.point.values["y"].argmax(-1).reshape(chains, 6)
    counts = torch.bincount((drawn * 3 ** torch.arange(6)).sum(1), minlength=729).numpy()[None]
    tv, floor = total_variation(counts, exact), iid_floor(exact, chains, seed=7, draws=5)
    assert tv <= 1.5 * floor, (tv, floor)
    assert total_variation(counts, wrong) > 3 * floor
