"""Constant folding (runtime/model/fold.py): calls on numbers alone evaluate once, to the value the
runtime's op would give, and the energy and the emitted module both use it; calls that read a
variable or parameter are untouched."""

from __future__ import annotations

import math

import pytest
import torch

from ebmspec import ir
from ebmspec.api import compile_spec
from ebmspec.runtime.model.energy import lower_energy
from ebmspec.source import Source
from tests.codegen.harness import assert_exact, compare_emitted

SPEC = """
model consts "functions of numbers"
variables { x : real[2] in [-3, 3] }
params { J = 0.5 fixed }
energy {
  c = 2 * 3
  return log(2) * sum(x) + exp(1) + sqrt(c) * max(2, 3) + sum(3) + clamp(3, max = 1)
         + abs(-1) + tanh(1) + exp(J) - 0.5 * sum(x * x)
}
sampler s {
  init x ~ uniform
  update x with langevin(step = 0.01)
}
"""


def _expected(x: torch.Tensor) -> torch.Tensor:
    constant = math.e + math.sqrt(6) * 3 + 3 + 1 + 1 + math.tanh(1) + math.exp(0.5)
    return math.log(2) * x.sum(1) + constant - 0.5 * (x * x).sum(1)


def test_calls_on_numbers_fold_and_the_energy_is_right(tmp_path):
    program = compile_spec(Source("consts.ebm", SPEC))
    consts = []

    def walk(node):
        if isinstance(node, ir.Const):
            consts.append(node.value)
        for child in getattr(node, "inputs", ()):
            walk(child)

    walk(program.energy.result)
    assert pytest.approx(math.log(2)) in consts and pytest.approx(math.e) in consts
    assert pytest.approx(math.sqrt(6) * 3) in consts  # sqrt(c) * max(2, 3), c = 2 * 3
    assert program.energy.lets == ()  # c folded into its only use, and dropped
    # exp(J) reads a parameter: left as a call
    x = torch.tensor([[0.5, -1.0], [2.0, 0.25]])
    model = lower_energy(program)
    torch.testing.assert_close(model({"x": x}), _expected(x))
    assert_exact(compare_emitted(program, tmp_path, spec_name="consts.ebm"))  # bit for bit


def test_calls_that_read_a_variable_or_parameter_are_left_alone():
    from ebmspec.api import check_program, parse_source
    from ebmspec.runtime.model.fold import fold_constants

    source = Source("consts.ebm", SPEC.replace("c = 2 * 3", "c = sum(x)"))
    checked = check_program(source, parse_source(source))
    folded = fold_constants(checked)
    assert folded.energy.lets == checked.energy.lets  # sum(x) stays a call
    assert "exp" in repr(folded.energy.result)  # exp(J): J is a parameter
