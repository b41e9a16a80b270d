"""`def` in the energy: a call expands to its body, and the blocks of a body are one instance
shared by every call (tied weights) - in process and in the emitted module, bit for bit."""

from __future__ import annotations

import torch

from ebmspec.api import compile_spec
from ebmspec.runtime.model.energy import lower_energy, random_values
from ebmspec.source import Source
from tests.codegen.harness import (
    assert_exact,
    assert_same_chains,
    compare_emitted,
    compare_sampling,
)

SIAMESE = """
model siamese "two inputs through one shared encoder, beside a lattice"
variables {
  a : real[4]
  b : real[4]
  s : binary[6, 6]
}
energy {
  def enc(v) = mlp(v, hidden = [8], out = 3)
  def bonds(z) = z * (roll(z, shift = 1, axis = 0) + roll(z, shift = 1, axis = 1))
  def pair(u, w) = dot(enc(u), enc(w))
  return pair(a, b) + 0.3 * sum(bonds(2 * s - 1))
}
sampler m {
  update s with gibbs
  update a, b with mala(step = 0.05)
}
"""


def _program():
    return compile_spec(Source("siamese.ebm", SIAMESE))


def test_calls_share_one_block_and_expand_to_their_bodies():
    program = _program()
    model = lower_energy(program, seed=0)
    assert list(model.blocks) == ["enc"]  # one encoder for both inputs
    values = random_values(program, 6, torch.Generator().manual_seed(1))
    swapped = {**values, "a": values["b"], "b": values["a"]}
    with torch.no_grad():
        f = model(values)
        assert torch.allclose(f, model(swapped), atol=1e-6)  # shared: symmetric in a and b
        enc = model.blocks["enc"]
        z = 2 * values["s"] - 1
        bonds = z * (torch.roll(z, 1, 1) + torch.roll(z, 1, 2))
        by_hand = (enc(values["a"]) * enc(values["b"])).sum(1) + 0.3 * bonds.sum((1, 2))
    assert torch.allclose(f, by_hand, atol=1e-5)
    (block,) = [b for b in program.sampler("m").blocks if b.variables == ("s",)]
    assert block.colouring.count == 2 and block.colouring.draw == "gradient"


def test_emitted_module_reproduces_energy_and_chains(tmp_path):
    program = _program()
    assert_exact(compare_emitted(program, tmp_path / "energy", spec_name="siamese.ebm"))
    result = compare_sampling(
        program, tmp_path / "chains", [{"chains": 4, "sweeps": 3, "seed": 2}],
        spec_name="siamese.ebm",
    )  # fmt: skip
    assert_same_chains(result.expected[0], result.actual[0])
