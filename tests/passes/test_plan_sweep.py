"""The sweep planner: its kernel traits match the runtime kernels, and the passes it predicts per
sweep (fused and naive) are exactly what the runtime schedule spends."""

from __future__ import annotations

import importlib
import subprocess
import sys
from dataclasses import replace

import pytest

from ebmspec.api import compile_spec
from ebmspec.passes.plan_sweep import plan_sweeps
from ebmspec.runtime.model.energy import lower_energy
from ebmspec.runtime.sampling.sampler import sample
from ebmspec.runtime.sampling.schedule import KERNEL_CLASSES
from ebmspec.semantic import registry as reg
from ebmspec.source import Source
from tests.conftest import ROOT

MIXED = """\
model mixed "a small mixed model"

variables {
  x : real[2]
  y : categorical(3)[2]
  b : binary[3]
}

energy {
  return mlp(concat(x, onehot(y), b), hidden = [8]) + gaussian(x, mean = 0.0)
}

sampler s {
%s
  sweeps = 1
}
"""

# (blocks of the sweep, fused fwd+bwd, naive fwd+bwd, fused fwd, naive fwd) per steady sweep.
CASES = [
    ("update y, b with gwg\n  update x with langevin(step = 0.01)", 2, 3, 0, 0),
    ("update y, b with gwg\n  update x with mala(step = 0.01)", 2, 4, 0, 0),
    ("update x with mala(step = 0.01)\n  update y, b with gwg", 2, 4, 0, 0),
    ("update y, b with gwg repeat 2\n  update x with langevin(step = 0.01)", 3, 5, 0, 0),
    ("update y, b with gwg\n  update x with hmc(step = 0.1, leapfrog = 3)", 4, 6, 0, 0),
    ("update x with langevin(step = 0.01) repeat 3\n  update y, b with gwg", 4, 5, 0, 0),
    ("update y, b with gibbs\n  update x with mala(step = 0.01)", 2, 2, 5, 5),
    ("update y with metropolis\n  update b with gibbs\n  update x with metropolis", 0, 0, 6, 7),
    ("update y, b with metropolis\n  update x with langevin(step = 0.01)", 1, 1, 2, 2),
    ("update y, b with gwg\n  update x with metropolis(scale = 0.5)", 2, 2, 1, 2),
]


def test_each_kernel_module_declares_its_row_with_the_class_traits():
    """One module per kernel: its `SIGNATURE` is the registry row, its class's traits the
    planner's facts; no row without a class, no class without a row."""
    from ebmspec.runtime.sampling import kernels

    assert set(KERNEL_CLASSES) == set(reg.KERNELS)
    for name, kernel in KERNEL_CLASSES.items():
        module = importlib.import_module(kernel.__module__)
        row = reg.KERNELS[name]
        assert module.SIGNATURE.name == name and row == module.SIGNATURE, name
        assert module.__name__.rsplit(".", 1)[1] in kernels.KERNEL_FILES
        traits = row.extra
        assert (kernel.reads, kernel.leaves) == (traits["reads"], traits["leaves"]), name


def test_a_second_row_under_one_name_is_refused():
    row = reg.KERNELS["mala"]
    assert reg.declare(reg.KERNELS, row) is row  # the same row again (a re-import) is fine
    with pytest.raises(AssertionError, match="two registry rows named `mala`"):
        reg.declare(reg.KERNELS, replace(row, doc="another mala"))
    assert reg.KERNELS["mala"] is row


def test_checking_before_the_runtime_declared_its_rows_is_an_internal_error():
    """The checker may not import the runtime; without `ebmspec.api` the rows are missing, and
    it says so instead of calling every kernel unknown."""
    code = (
        "from ebmspec.frontend.parser import parse_source\n"
        "from ebmspec.semantic.checker import check_program\n"
        "from ebmspec.source import Source\n"
        "s = Source('a.ebm', open('specs/toy_joint.ebm').read())\n"
        "check_program(s, parse_source(s))\n"
    )
    result = subprocess.run(
        [sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, check=False
    )
    assert result.returncode == 1
    assert "kernels, datasets, energy blocks and objectives are not declared" in result.stderr


@pytest.mark.parametrize(("blocks", "fused", "naive", "fused_fwd", "naive_fwd"), CASES)
def test_planned_passes_are_the_runtime_passes(blocks, fused, naive, fused_fwd, naive_fwd):
    program = compile_spec(Source("mixed.ebm", MIXED % ("  " + blocks)))
    (plan,) = plan_sweeps(program)
    assert (plan.fused_passes, plan.naive_passes) == (fused, naive)
    assert (plan.fused_forwards, plan.naive_forwards) == (fused_fwd, naive_fwd)
    model = lower_energy(program, seed=0)
    for fuse, passes, forwards in ((True, fused, fused_fwd), (False, naive, naive_fwd)):
        counts: list[int] = []
        _, target = sample(program, model, 4, sweeps=1, seed=0, fuse=fuse)
        first = (target.passes, target.forwards)
        _, target = sample(
            program,
            model,
            4,
            sweeps=4,
            seed=0,
            fuse=fuse,
            callback=lambda state, seen=counts: seen.append(state.sweeps),
        )
        # Sweeps 2-4 run in the steady state the plan describes.
        assert target.passes - first[0] == 3 * passes, (fuse, target.passes, first)
        assert target.forwards - first[1] == 3 * forwards, (fuse, target.forwards, first)
        assert counts == [1, 2, 3, 4]
