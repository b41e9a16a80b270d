"""The `jump` kernel's bookkeeping: the joint-value order its shift tables use, the data's mean
position per joint label value that a training run keeps, and where the tables come from.

Its exactness (against the exact law of a 16-component lattice, with a negative control) is in
test_exactness, its clamping in test_clamping, its emitted twin in codegen/test_emit_sampling.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F

from ebmspec.runtime.data.encoding import data_stats
from ebmspec.runtime.model.ops import Var, joint_codes
from ebmspec.runtime.sampling.kernels.jump import (
    label_codes,
    place_values,
    shift_groups,
    shift_key,
)

TABLE = {
    "a": Var("categorical", (), 3),
    "s": Var("binary", (2,)),
    "x": Var("real", (2,)),
}


def test_joint_codes_and_place_values_agree():
    """Row r of `joint_codes` is the joint value whose site values, weighted by `place_values`,
    sum to r: the kernel finds a chain's row, and the statistics their rows, the same way."""
    codes = joint_codes(TABLE, ("a", "s"))
    assert codes.shape == (12, 3)
    assert torch.equal((codes * place_values(TABLE, ("a", "s"))).sum(1), torch.arange(12))
    values = {"a": F.one_hot(codes[:, 0], 3).float(), "s": codes[:, 1:].float()}
    assert torch.equal(label_codes(TABLE, ("a", "s"), values), codes)


def test_the_statistics_hold_the_mean_position_per_joint_label_value():
    codes = torch.tensor([[0, 0, 1], [0, 0, 1], [2, 1, 1], [1, 0, 0], [1, 0, 0]])
    values = {
        "a": F.one_hot(codes[:, 0], 3).float(),
        "s": codes[:, 1:].float(),
        "x": torch.tensor([[1.0, 2.0], [3.0, 4.0], [-1.0, 0.0], [5.0, 5.0], [9.0, 9.0]]),
    }
    # the last example misses a label of `s`: it counts for x's mean, not for the table
    observed = {"s": torch.tensor([[True, True]] * 4 + [[True, False]])}
    stats = data_stats(TABLE, values, observed, [(("x",), ("a", "s"))])
    table = stats["x"][shift_key(("a", "s"))]
    assert table.shape == (12, 2)
    overall = values["x"].mean(0)
    expected = overall.expand(12, 2).clone()
    expected[0 * 4 + 0 * 2 + 1] = torch.tensor([2.0, 3.0])  # a = 0, s = (0, 1): two examples
    expected[2 * 4 + 1 * 2 + 1] = torch.tensor([-1.0, 0.0])
    expected[1 * 4 + 0 * 2 + 0] = torch.tensor([5.0, 5.0])  # the incomplete one left out
    assert torch.allclose(table, expected)
    assert set(stats["x"]) == {"min", "max", "mean", "std", shift_key(("a", "s"))}


def test_shift_groups_are_the_jump_blocks():
    blocks = [
        ("gwg", ("a",), {}, 1),
        ("jump", ("x", "a", "s"), {"gibbs": False}, 1),
        ("mala", ("x",), {"step": 0.1}, 1),
        ("jump", ("a", "s", "x"), {}, 2),  # the same group again: listed once
    ]
    assert shift_groups(blocks, TABLE) == [(("x",), ("a", "s"))]
