"""The emitted module samples a trained run exactly like `ebmspec sample RUN`: `load_run` reads
the EMA weights and the data statistics (for `uniform_data_range` / `data_frequency` inits) from
the run folder with torch alone, and the chains match the in-process ones bit for bit."""

from __future__ import annotations

import torch
from safetensors.torch import load_file

from ebmspec.api import compile_file
from ebmspec.runs import load_run, write_run_info
from ebmspec.runtime.data import load_dataset
from ebmspec.runtime.sampling import sampler as sampling
from ebmspec.runtime.training.trainer import Trainer
from tests.codegen.harness import emit_checked, run_fresh
from tests.conftest import ROOT

SCRIPT = """
import importlib.util
import sys

import torch
from safetensors.torch import save_file

module_path, run, output = sys.argv[1:4]
spec = importlib.util.spec_from_file_location("emitted_energy", module_path)
module = importlib.util.module_from_spec(spec)
sys.modules["emitted_energy"] = module
spec.loader.exec_module(module)
model, stats = module.load_run(run)
state, _ = module.sample(model.eval(), 32, 6, 3, None, None, "cpu", stats)
save_file({k: v.contiguous() for k, v in state.point.values.items()}, output)
module.main(["--run", run, "--chains", "4", "--steps", "2", "--condition", "y=[1, 1, 0]"])
"""


def test_emitted_module_samples_a_run_like_the_cli(tmp_path):
    spec = ROOT / "specs" / "toy_joint.ebm"
    program = compile_file(spec, "smoke")
    run = tmp_path / "run"
    trainer = Trainer(program, load_dataset(program), run)
    trainer.start(resume=False)
    trainer.run()
    # a run folder as `ebmspec train` leaves it
    write_run_info(run, spec, spec.read_text(), "smoke", [], "cpu")

    loaded = load_run(run)
    assert loaded.stats["x"]["min"].shape == (2,)  # the data statistics came back
    state, _ = sampling.sample(program, loaded.model, 32, sweeps=6, seed=3, stats=loaded.stats)

    _, module_path = emit_checked(program, tmp_path / "emitted", "toy_joint.ebm")
    output = tmp_path / "chains.safetensors"
    done = run_fresh(SCRIPT, str(module_path), str(run), str(output), cwd=tmp_path)
    emitted = load_file(str(output))
    for name, value in state.point.values.items():
        assert torch.equal(emitted[name], value), name
    assert "y: counts per value" in done.stdout and "(clamped)" in done.stdout
