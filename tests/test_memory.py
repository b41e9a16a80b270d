"""Memory bounded at check time (issue 31, item 3): the estimate `ebmspec check` prints, the
refusal (E509) located at the number responsible, and the measured activations the estimate rests
on (the meta-device count equals the count on real tensors)."""

from __future__ import annotations

import pytest
import torch

from ebmspec import memory
from ebmspec.api import compile_spec
from ebmspec.memory import activation_bytes, estimate, parse_size, size
from ebmspec.source import Source
from tests.conftest import ROOT

SPEC = """
model big "a replay buffer too large for any machine"
data toy(attributes = "multi")
variables {
  x : real[2]
  y : categorical(2)[3]
}
energy { return mlp(concat(x, onehot(y)), hidden = [32]) }
sampler joint {
  update y with gibbs
  update x with langevin(step = 0.01, noise = 0.1)
}
train { objective = pcd(steps = 2, buffer = 100000000000); batch = 50; iterations = 5 }
profile huge { train.batch = 900000000; train.objective.buffer = 900000000 }
"""


def test_sizes_read_and_print_like_people_write_them():
    assert parse_size("512M") == 512 * 2**20 and parse_size("1.5GiB") == int(1.5 * 2**30)
    assert parse_size("2000") == 2000 and parse_size("8g") == 8 * 2**30
    assert parse_size("12X") is None and parse_size("") is None
    assert size(512) == "512 B" and size(3 * 2**40) == "3.0 TiB"


def test_a_4_tb_buffer_is_refused_at_its_number(cli, tmp_path):
    spec = tmp_path / "big.ebm"
    spec.write_text(SPEC)
    status, _, err = cli("check", str(spec))
    assert status == 1 and "error[E509]: training needs about" in err
    line = next(i for i, text in enumerate(SPEC.splitlines(), 1) if "buffer =" in text)
    column = SPEC.splitlines()[line - 1].index("100000000000") + 1
    assert f"big.ebm:{line}:{column}: error[E509]" in err
    assert "replay buffer (" in err and "TiB" in err
    # train refuses it the same way, before a run folder is made
    status, _, err = cli("train", str(spec), "-o", str(tmp_path / "run"), "--device", "cpu")
    assert status == 1 and "error[E509]" in err and not (tmp_path / "run").exists()


def test_the_refusal_points_at_the_profile_or_the_setting_that_gave_the_number(cli, tmp_path):
    spec = tmp_path / "big.ebm"
    spec.write_text(SPEC.replace("100000000000", "1000"))
    status, out, err = cli("check", str(spec))
    assert status == 0 and "memory: training needs about" in out
    status, _, err = cli("check", str(spec), "--profile", "huge")
    line = next(i for i, text in enumerate(SPEC.splitlines(), 1) if "profile huge" in text)
    assert status == 1 and f"big.ebm:{line}:" in err and "activations of one iteration" in err
    status, _, err = cli("check", str(spec), "--set", "train.objective.buffer=99999999999")
    assert status == 1 and "--set:1:24: error[E509]" in err
    status, _, err = cli("check", str(spec), "--max-memory", "1K")
    assert status == 1 and "more than the limit of 1.0 KiB" in err
    status, _, err = cli("check", str(spec), "--max-memory", "lots")
    assert status == 1 and "error[E940]: `lots` is not a size" in err


@pytest.mark.parametrize("limit", [0, memory.REAL_COUNT_LIMIT], ids=["meta", "cpu"])
def test_meta_device_counts_equal_real_tensors(monkeypatch, limit):
    """The bytes autograd keeps per example, counted on meta tensors (large weights) or on an
    energy built on the CPU and fed zeros (small weights), are the bytes it keeps on real data."""
    from ebmspec.runtime.model.energy import lower_energy

    monkeypatch.setattr(memory, "REAL_COUNT_LIMIT", limit)

    program = compile_spec(Source("big.ebm", SPEC.replace("100000000000", "1000")))

    def kept(batch: int) -> int:
        total = 0

        def pack(tensor):
            nonlocal total
            total += tensor.numel() * tensor.element_size()
            return tensor

        model = lower_energy(program, seed=0)
        values = {
            v.name: torch.rand((batch, *v.tensor_shape), requires_grad=True)
            for v in program.variables
        }
        with torch.autograd.graph.saved_tensors_hooks(pack, lambda t: t):
            model(values)
        return total

    per_example, shared = activation_bytes(program)
    assert per_example == kept(2) - kept(1) > 0
    assert shared == 2 * kept(1) - kept(2)


def test_every_shipped_training_spec_has_an_estimate():
    for path in sorted((ROOT / "specs").glob("*.ebm")):
        program = compile_spec(Source(str(path), path.read_text()))
        found = estimate(program)
        assert (found is None) == (program.train is None), path
        if found is not None:
            assert found.total > 0 and all(t.bytes >= 0 for t in found.terms)


def test_a_buffer_drawn_in_slices_is_the_same_draw(monkeypatch):
    """Truncated-normal starts of a large buffer are drawn a slice of rows at a time (their
    float64 temporaries were 20 times the buffer); the values are the one-draw values."""
    from ebmspec.runtime.sampling import schedule

    mean = torch.rand(1, 28, 28, generator=torch.Generator().manual_seed(1))
    sliced = schedule._truncated_normal(
        mean, 0.3, 0.0, 1.0, (3000, 1, 28, 28), torch.Generator().manual_seed(0), "cpu"
    )
    monkeypatch.setattr(schedule, "CHUNK", 1 << 40)
    whole = schedule._truncated_normal(
        mean, 0.3, 0.0, 1.0, (3000, 1, 28, 28), torch.Generator().manual_seed(0), "cpu"
    )
    assert torch.equal(sliced, whole) and ((whole >= 0) & (whole <= 1)).all()
