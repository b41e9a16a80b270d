"""Sampler defaults fill every gap in the discrete-then-continuous order; profiles apply by key."""

from __future__ import annotations

from ebmspec.api import compile_file, compile_spec
from ebmspec.passes.profiles import apply_profile
from ebmspec.semantic.profiles import check_setting
from ebmspec.source import Source
from tests.conftest import ROOT

SPEC = """
model t
variables {
  x : real[2]
  z : real[2] in [0, 1] latent
  y : categorical(3) latent
  b : binary[4] latent
}
energy { return mlp(concat(x, z, onehot(y), b), hidden = [8]) }
sampler s {
  update x with langevin(step = 0.1, noise = 0.2)
}
"""


def test_defaults_cover_every_variable_in_algorithm_1_order():
    program = compile_spec(Source("t.ebm", SPEC))
    sampler = program.sampler("s")
    blocks = [(b.kernel.name, b.variables, b.default) for b in sampler.blocks]
    assert blocks == [
        ("gwg", ("y", "b"), True),  # discrete first
        ("langevin", ("x",), False),  # the user's block keeps its place
        ("mala", ("z",), True),  # remaining continuous last
    ]
    inits = {init.variables: init.dist.name for init in sampler.inits}
    # no data line: x is observed but has no batch to read, so it falls back to normal
    assert inits == {("x",): "normal", ("z",): "uniform", ("y",): "uniform", ("b",): "uniform"}


def test_spec_without_sampler_gets_a_default_one():
    text = SPEC.split("sampler s")[0]
    program = compile_spec(Source("t.ebm", text))
    assert [s.name for s in program.samplers] == ["default"]
    assert all(block.default for block in program.samplers[0].blocks)


def test_profile_overrides_train_objective_and_evaluation():
    program = compile_file(ROOT / "specs" / "toy_joint.ebm")
    assert program.train.setting("iterations") == 5500
    cpu = apply_profile(program, "cpu")
    assert cpu.train.setting("iterations") == 700
    assert cpu.train.setting("batch") == 500
    assert cpu.train.objective.name == "jem" and cpu.train.objective.arg("sampler") == "mix"
    assert cpu.train.objective.arg("generative") == "marginal"
    samples = cpu.evaluate.predictions[0].methods[1]
    assert samples.arg("steps") == 100 and samples.arg("sampler") == "exact"
    assert program.evaluate.predictions[0].methods[1].arg("sampler") == "joint"
    smoke = apply_profile(program, "smoke")
    assert smoke.train.objective.arg("steps") == 5
    # the original program is frozen and untouched
    assert program.train.objective.arg("steps") == 20


def test_profile_can_set_kernel_parameters_and_sweeps():
    text = (ROOT / "specs" / "dsprites_joint.ebm").read_text()
    text += "\nprofile fast { sampler.joint.x.step = 5; sampler.joint.sweeps = 10 }\n"
    program = apply_profile(compile_spec(Source("d.ebm", text)), "fast")
    sampler = program.sampler("joint")
    assert sampler.sweeps == 10
    langevin = next(b for b in sampler.blocks if b.variables == ("x",))
    assert langevin.kernel.arg("step") == 5.0 and langevin.kernel.arg("noise") == 0.003


def test_a_replaced_objective_keeps_the_sampler_of_the_one_it_replaces():
    # The toy spec has three samplers (`joint` trains, `exact` predicts, `mix` jumps modes).
    program = compile_file(ROOT / "specs" / "toy_joint.ebm")
    assert [s.name for s in program.samplers] == ["joint", "exact", "mix"]
    kept = check_setting(program, Source("--set", "train.objective=jem(alpha = 2)"))
    assert kept.value.name == "jem" and kept.value.arg("sampler") == "joint"
    named = check_setting(program, Source("--set", "train.objective=pcd(sampler = exact)"))
    assert named.value.arg("sampler") == "exact"


def test_evaluation_samples_with_the_training_sampler():
    text = (ROOT / "specs" / "dsprites_joint.ebm").read_text()
    text = text.replace("sampler joint {", "sampler other { sweeps = 3 }\nsampler joint {")
    program = compile_spec(Source("d.ebm", text))
    method = program.evaluate.predictions[0].methods[1]
    assert method.name == "samples" and method.arg("sampler") == "joint"
    assert program.evaluate.reports[1].call.arg("sampler") == "joint"
