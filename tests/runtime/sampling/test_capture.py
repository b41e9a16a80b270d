"""Captured sweeps (runtime/sampling/capture.py): the chains of the eager loop, one graph per sweep,
no recompilation from sweep to sweep, the tape of random numbers, `--capture` on the command line.

CPU only here, mostly with the "aot_eager" backend (one traced graph, run op by op: no C++
compiler, a second to compile); the inductor path is `slow` and skipped without a compiler. The
exactness of captured chains against exact laws is in test_exactness.py
(`test_captured_sweeps_sample_the_exact_law`).
"""

from __future__ import annotations

import shutil

import pytest
import torch

from ebmspec.api import compile_file
from ebmspec.runtime.model.energy import lower_energy, variable_table
from ebmspec.runtime.sampling import capture, schedule
from ebmspec.runtime.sampling.kernels import Target
from ebmspec.runtime.sampling.kernels.draws import Draws, draw_plan, normal, uniform
from ebmspec.runtime.sampling.sampler import default_sampler, sample, sampler_table
from ebmspec.runtime.training.negatives import Negatives
from tests.conftest import ROOT
from tests.runtime.sampling import ground_truth as gt
from tests.runtime.sampling.kernels.test_exactness import (
    CASES,
    CONDITIONS,
    _condition,
    _shift_stats,
)

COMPILER = shutil.which("c++") or shutil.which("g++")

# One case per kernel (and per schedule shape: repeats, partial clamps, an adapting block).
FOLLOWED = [
    "ising+gwg(flips=3)|s[2,7]",
    "potts+gibbs|y[0]",
    "hybrid+gibbs(joint=true)",
    "potts+dmala|y[0]",
    "box+metropolisrepeat3+mala(step=0.1)",
    "mixed+hmc(step=0.3,leapfrog=5)|a,b",
    "mixed+langevin(step=0.2)|a,b",
    "box+gibbs+barker(scale=0.7)",
    "lattice+jump(gibbs=true)+mala(step=0.02)[exact shift]",
    "mixed+gwg+hmc(step=1.2,leapfrog=5,adapt=60)",
]
BY_ID = {case.id: case for case in CASES}


@pytest.fixture(autouse=True)
def one_thread():
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


def _run(case, chains: int, capture_mode: str | None, sweeps: int | None = None):
    program, energy = gt.build(case.model, case.discrete, case.real, case.sweeps)
    groups = CONDITIONS[case.given] if case.given else [{}]
    per_group = chains // len(groups)
    state, _ = sample(
        program,
        energy,
        per_group * len(groups),
        sweeps=sweeps,
        seed=case.seed,
        condition=_condition(groups, per_group),
        stats=_shift_stats(case, energy),
        capture=capture_mode,
    )
    return state


def test_the_followed_cases_exist():
    assert set(FOLLOWED) <= set(BY_ID), set(FOLLOWED) - set(BY_ID)


@pytest.mark.parametrize("case_id", FOLLOWED)
def test_captured_chains_follow_the_eager_chains(case_id):
    """Same generator, same chains: every value within float rounding, every accept decision
    (summed per chain) the same, the step counters the same."""
    case = BY_ID[case_id]
    eager = _run(case, 240, None)
    captured = _run(case, 240, "aot_eager")
    assert captured.sweeps == eager.sweeps == case.sweeps
    for name, value in eager.point.values.items():
        gap = (captured.point.values[name] - value).abs().max().item()
        assert gap <= 1e-4, f"{name}: the captured chains are {gap:.2e} away"
    for ours, theirs in zip(captured.kernels, eager.kernels, strict=True):
        assert ours.steps == theirs.steps
        assert torch.equal(ours.accepted, theirs.accepted)


def _dsprites(batch: int, device: str = "cpu"):
    program = compile_file(ROOT / "specs" / "dsprites_joint.ebm")
    model = lower_energy(program, seed=0).to(device)
    variables = variable_table(program)
    table = sampler_table(program.sampler(default_sampler(program)))
    generator = torch.Generator(device=device).manual_seed(0)
    values = schedule.initial_values(table["inits"], variables, batch, generator, device=device)
    return model, variables, table, values, generator.get_state()


def test_a_sweep_is_one_graph_compiled_once():
    """Twelve sweeps of dSprites' GWG + Langevin schedule: dynamo traces the sweep as one graph
    (fullgraph) once - the step counters, Python ints, stay outside it, so no sweep recompiles -
    and the chains equal the eager loop's."""
    model, variables, table, values, state = _dsprites(6)
    sweeps = schedule.build_schedule(table["blocks"], variables)
    graphs = []

    def counting(graph_module, example_inputs):
        graphs.append(graph_module)
        return graph_module.forward

    captured = capture.CapturedSweep(sweeps, Target(model, variables), backend=counting)
    generator = torch.Generator().set_state(state)
    result = captured.run(sweeps.start(values), generator, 12)
    assert len(graphs) == 1
    assert captured.eager_sweeps == 1
    eager = sweeps.run(
        sweeps.start(values), Target(model, variables), torch.Generator().set_state(state), 12
    )
    for name, value in eager.point.values.items():
        assert (result.point.values[name] - value).abs().max().item() <= 1e-4


def test_an_adapting_block_runs_eagerly_until_its_step_is_frozen():
    case = BY_ID["mixed+gwg+hmc(step=1.2,leapfrog=5,adapt=60)"]
    program, energy = gt.build(case.model, case.discrete, case.real, case.sweeps)
    table = sampler_table(program.sampler(default_sampler(program)))
    variables = variable_table(program)
    sweeps = schedule.build_schedule(table["blocks"], variables)
    generator = torch.Generator().manual_seed(0)
    values = schedule.initial_values(table["inits"], variables, 50, generator)
    captured = capture.CapturedSweep(sweeps, Target(energy, variables), "aot_eager")
    state = captured.run(sweeps.start(values), generator, 80)
    # hmc adapts over its first 60 transitions: sweeps 1-61 eager (the 61st starts at count 60,
    # where `_adapting` stays conservative), 62-80 in the graph.
    assert captured.eager_sweeps == 61
    assert [k.steps for k in state.kernels] == [80, 80]


def test_the_tape_replays_the_generators_numbers():
    generator = torch.Generator().manual_seed(3)
    recording = Draws(generator)
    first = [normal((4, 3), recording, "cpu"), uniform(5, recording, "cpu")]
    assert recording.plan == [("normal", (4, 3)), ("uniform", (5,))]
    generator.manual_seed(3)
    tape = Draws(None, draw_plan(recording.plan, generator, "cpu"))
    again = [normal((4, 3), tape, "cpu"), uniform(5, tape, "cpu")]
    for a, b in zip(first, again, strict=True):
        assert torch.equal(a, b)
    with pytest.raises(RuntimeError, match="the tape holds"):
        normal((2, 2), Draws(None, [torch.zeros(3)]), "cpu")


def test_captured_negatives_follow_the_eager_ones():
    """A training run's chains (`Negatives`, persistent buffer, re-initialisation) with captured
    sweeps: three draws, the same buffer as the eager loop's; compiled once for the run."""
    model, variables, table, _, _ = _dsprites(1)
    buffers = []
    for mode in (None, "aot_eager"):
        chains = Negatives(table, variables, 3, True, size=12, reinit=0.3, capture=mode)
        generator = torch.Generator().manual_seed(1)
        chains.start(generator, {}, "cpu")
        for _ in range(3):
            chains.draw(model, 4, generator, {}, "cpu")
        buffers.append(chains.buffer)
        if mode is not None:
            assert chains.captured.eager_sweeps == 1
    for name, value in buffers[0].items():
        assert (buffers[1][name] - value).abs().max().item() <= 1e-4


@pytest.mark.slow
@pytest.mark.skipif(COMPILER is None, reason="inductor needs a C++ compiler")
def test_inductor_compiled_sweeps_follow_the_eager_chains():
    """torch.compile's default mode, code generated by inductor (what `--capture compile` runs),
    on the dSprites network."""
    model, variables, table, values, state = _dsprites(8)
    sweeps = schedule.build_schedule(table["blocks"], variables)
    captured = capture.CapturedSweep(sweeps, Target(model, variables), "default")
    result = captured.run(sweeps.start(values), torch.Generator().set_state(state), 5)
    eager = sweeps.run(
        sweeps.start(values), Target(model, variables), torch.Generator().set_state(state), 5
    )
    for name, value in eager.point.values.items():
        assert (result.point.values[name] - value).abs().max().item() <= 1e-4


@pytest.mark.cuda
@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device")
@pytest.mark.parametrize("mode", ["default", "reduce-overhead"])
def test_cuda_captured_sweeps_follow_eager_and_never_synchronise(mode):
    """On the GPU, compiled and CUDA-graph sweeps: after warm-up (the recording sweep, the
    compilation, CUDA-graph recording) no sweep synchronises with the host, and the chains
    equal the eager loop's."""
    model, variables, table, values, state = _dsprites(100, "cuda")
    sweeps = schedule.build_schedule(table["blocks"], variables)
    captured = capture.CapturedSweep(sweeps, Target(model, variables), mode)
    generator = torch.Generator(device="cuda").set_state(state)
    result = captured.run(sweeps.start(values), generator, 4)
    torch.cuda.synchronize()
    torch.cuda.set_sync_debug_mode("error")
    try:
        result = captured.run(result, generator, 4)
    finally:
        torch.cuda.set_sync_debug_mode("default")
    eager_generator = torch.Generator(device="cuda").set_state(state)
    eager = sweeps.run(sweeps.start(values), Target(model, variables), eager_generator, 8)
    for name, value in eager.point.values.items():
        assert (result.point.values[name] - value).abs().max().item() <= 1e-3
