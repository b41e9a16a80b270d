"""Shape inference through every energy building block, as a table of (energy, expected shapes)."""

from __future__ import annotations

import pytest

from ebmspec.api import compile_spec
from ebmspec.source import Source

VARIABLES = """
variables {
  x : real[1, 28, 28]
  v : real[5]
  b : binary[4]
  y : categorical(3)
  a : categorical(2)[4]
}
"""

CASES = [
    # (energy statements, {binding: shape}, result shape)
    (
        "h = cnn(x, channels = [8, 16], kernels = [3, 4], strides = [1, 2])\nreturn sum(h)",
        {"h": (16, 14, 14)},
        (),
    ),
    (
        "h = cnn(x, channels = [8], kernels = [5], paddings = [0], head = 4)\nreturn sum(h)",
        {"h": (4, 24, 24)},
        (),
    ),
    ("h = flatten(x)\nreturn mlp(h, hidden = [16])", {"h": (784,)}, ()),
    ("h = mlp(v, hidden = [8], out = 3)\nreturn h[y]", {"h": (3,)}, ()),
    ("h = concat(v, b, onehot(y), onehot(a))\nreturn linear(h)", {"h": (5 + 4 + 3 + 8,)}, ()),
    ("e = embedding(a, dim = 6)\nreturn sum(e)", {"e": (24,)}, ()),
    ("s = reshape(linear(v, out = 8), shape = [4, 2])\nreturn sum(s[a])", {"s": (4, 2)}, ()),
    ("return dot(linear(v, out = 4), linear(onehot(y), out = 4))", {}, ()),
    ("return bilinear(v, onehot(a))", {}, ()),
    ("return quadratic(b) + ising(onehot(a))", {}, ()),
    ("return gaussian(v, mean = linear(onehot(y), out = 5), std = 0.5)", {}, ()),
    ("return gaussian(v)", {}, ()),  # default mean 0, std 1
    ("return logsumexp(mlp(v, out = 3)) - 0.5 * mean(silu(v))", {}, ()),
    ("h = 2 * v + tanh(v) / 3\nreturn sum(-h)", {"h": (5,)}, ()),
    ("return mlp(v, out = 1)", {}, (1,)),
]


@pytest.mark.parametrize(("energy", "lets", "result"), CASES)
def test_shapes(energy, lets, result):
    program = compile_spec(Source("t.ebm", f"model t\n{VARIABLES}\nenergy {{\n{energy}\n}}\n"))
    assert {let.name: let.value.shape for let in program.energy.lets} == lets
    assert program.energy.result.shape == result


def test_parametric_blocks_are_named_after_their_binding():
    energy = "h = mlp(v, out = 4) + linear(v, out = 4) + mlp(v, out = 4)\nreturn dot(h, h)"
    program = compile_spec(Source("t.ebm", f"model t\n{VARIABLES}\nenergy {{\n{energy}\n}}\n"))
    from ebmspec.runtime.model.energy import parametric_ops

    names = [op.module for op in parametric_ops(program.energy)]
    assert names == ["h_mlp", "h_linear", "h_mlp_2"]
