"""Gradient fusion across blocks (acceptance items 3 and 7).

The fused schedule reuses every evaluation's f and gradients until the state moves; `fuse=False`
drops them at every block entry (the naive loop). Checked here: for the same seed both give the same
chain (values within 1e-6, identical acceptance counts, after 50 sweeps) on the dSprites network of
paper 004 and on a small spec under every kernel combination, clamped or not; a GWG + Langevin
sweep costs exactly 2 forward+backward passes fused and 3 naive, sweep after sweep; and the sweep's
hot path (kernels/*.py, `Schedule`) holds no host synchronisation (`.item()`, `.tolist()`,
`float(tensor)`, a tensor reduction in an `if`, ...) and no Python loop over chains. That last check
is an `ast` scan, itself tested on a table of bad snippets. On CUDA a sweep also runs under
`torch.cuda.set_sync_debug_mode("error")`.
"""

from __future__ import annotations

import ast
import inspect
from pathlib import Path

import pytest
import torch
import torch.nn.functional as F

from ebmspec.api import compile_file, compile_spec
from ebmspec.runtime.model.energy import lower_energy, variable_table
from ebmspec.runtime.sampling import kernels, schedule
from ebmspec.runtime.sampling.kernels import Target
from ebmspec.runtime.sampling.sampler import default_sampler, sample, sampler_table
from ebmspec.source import Source
from tests.conftest import ROOT

SWEEPS = 50
TOLERANCE = 1e-6


def _dsprites_model(sharpen: float = 300.0):
    """The dSprites network of paper 004 at seed 0, with the first MLP layer's weights on the
    one-hot positions scaled by `sharpen`: at initial weights GWG accepts nearly every proposal,
    sharpened it accepts about half, so both branches of the accept/reject selection are used."""
    program = compile_file(ROOT / "specs" / "dsprites_joint.ebm")
    model = lower_energy(program, seed=0)
    with torch.no_grad():
        model.blocks["return"].net[0].weight[:, 256:] *= sharpen
    return program, model


def assert_same_chain(fused, naive) -> None:
    """Values within TOLERANCE; every block accepted exactly as often, chain by chain."""
    for name, value in fused.point.values.items():
        gap = (value - naive.point.values[name]).abs().max()
        assert gap <= TOLERANCE, (name, float(gap))
    assert fused.sweeps == naive.sweeps
    for index, (a, b) in enumerate(zip(fused.kernels, naive.kernels, strict=True)):
        assert a.steps == b.steps, index
        assert torch.equal(a.accepted, b.accepted), index
        torch.testing.assert_close(a.hops, b.hops, rtol=TOLERANCE, atol=TOLERANCE)


# ---- the same chain, fused or naive -------------------------------------------------------------
def test_dsprites_fused_and_naive_give_the_same_chain():
    program, model = _dsprites_model()
    fused, _ = sample(program, model, 8, sweeps=SWEEPS, seed=4, fuse=True)
    naive, _ = sample(program, model, 8, sweeps=SWEEPS, seed=4, fuse=False)
    assert_same_chain(fused, naive)
    gwg, langevin = fused.kernels
    rate = float(gwg.accepted.sum()) / (8 * gwg.steps)
    assert 0.2 < rate < 0.8, rate  # accepted and rejected proposals both reach Langevin
    assert float(langevin.hops.min()) > 0


MIXED = """\
model fusion "fused and naive schedules under every kernel"

variables {
  x : real[3]
  r : real[2] in [-2, 2]
  y : categorical(3)[2]
  b : binary[3]
}

energy {
  return mlp(concat(x, r, onehot(y), b), hidden = [16], act = tanh) + quadratic(b)
    + gaussian(x, mean = 0.5) + gaussian(r, mean = 0)
}

sampler s {
  init x, r ~ normal
  init y, b ~ uniform
%s
  sweeps = 50
}
"""

# Blocks of one sweep: discrete kernels before, after and between continuous ones, repeats, and
# blocks that read f only (Metropolis) or nothing (Gibbs) next to gradient readers.
MIXED_CASES = {
    "gwg+langevin": "update y, b with gwg\n  update x, r with langevin(step = 0.05)",
    "gwg+mala": "update y, b with gwg(temperature = 1)\n  update x, r with mala(step = 0.1)",
    "mala+gwg": "update x, r with mala(step = 0.1)\n  update y, b with gwg(flips = 2)",
    "gwg*2+hmc": "update y, b with gwg repeat 2\n  update x, r with hmc(step = 0.2, leapfrog = 3)",
    "gwg+gibbs+mala+hmc": "update y with gwg\n  update b with gibbs\n"
    "  update x with mala(step = 0.1)\n  update r with hmc(step = 0.3, leapfrog = 2)",
    "gibbs+mala": "update y, b with gibbs\n  update x, r with mala(step = 0.1)",
    "metropolis+gibbs+metropolis": "update y with metropolis\n  update b with gibbs\n"
    "  update x, r with metropolis(scale = 0.5)",
    "metropolis+langevin+metropolis": "update y, b with metropolis\n"
    "  update x with langevin(step = 0.05)\n  update r with metropolis",
    "gwg+metropolis": "update y, b with gwg\n  update x, r with metropolis(scale = 0.5)",
}

# Unconditioned, and with elements of y and x clamped (masks inside every kernel).
CONDITIONS = {
    "free": None,
    "clamped": {
        "y": (F.one_hot(torch.tensor([1, 0]), 3).float(), torch.tensor([True, False])),
        "x": (torch.zeros(3), torch.tensor([False, True, False])),
    },
}


@pytest.mark.parametrize("condition", list(CONDITIONS), ids=str)
@pytest.mark.parametrize("blocks", list(MIXED_CASES), ids=str)
def test_mixed_fused_and_naive_give_the_same_chain(blocks, condition):
    program = compile_spec(Source("fusion.ebm", MIXED % ("  " + MIXED_CASES[blocks])))
    model = lower_energy(program, seed=0)
    with torch.no_grad():
        for parameter in model.parameters():
            parameter.mul_(3.0)  # a rougher energy, so MH kernels reject a fair share
    given = CONDITIONS[condition]
    fused, fused_target = sample(program, model, 16, seed=3, fuse=True, condition=given)
    naive, naive_target = sample(program, model, 16, seed=3, fuse=False, condition=given)
    assert fused.sweeps == SWEEPS
    assert_same_chain(fused, naive)
    assert all(float(k.hops.sum()) > 0 for k in fused.kernels), blocks  # every block moved
    # Fusion only ever saves work.
    assert fused_target.passes <= naive_target.passes
    assert fused_target.forwards <= naive_target.forwards


# ---- passes per sweep ---------------------------------------------------------------------------
PAPER_SPECS = ("toy_joint", "mnist_joint", "dsprites_joint")


@pytest.mark.parametrize("spec", PAPER_SPECS)
@pytest.mark.parametrize(("fuse", "per_sweep"), [(True, 2), (False, 3)], ids=["fused", "naive"])
def test_gwg_langevin_sweep_costs_two_passes_fused_three_naive(spec, fuse, per_sweep):
    """Counted after every sweep (a callback) and in total, k sweeps -> per_sweep * k passes."""
    program = compile_file(ROOT / "specs" / f"{spec}.ebm")
    model = lower_energy(program, seed=0)
    variables = variable_table(program)
    table = sampler_table(program.sampler(default_sampler(program)))
    assert [block[0] for block in table["blocks"]] == ["gwg", "langevin"]
    generator = torch.Generator().manual_seed(0)
    values = schedule.initial_values(table["inits"], variables, 4, generator)
    target = Target(model, variables, cache=False)
    chain = schedule.build_schedule(table["blocks"], variables, fuse=fuse)
    seen: list[int] = []
    chain.run(chain.start(values), target, generator, 5, lambda _: seen.append(target.passes))
    assert seen == [per_sweep * k for k in range(1, 6)]
    assert target.forwards == 0
    _, target = sample(program, model, 4, sweeps=7, seed=1, fuse=fuse, cache=False)
    assert (target.passes, target.forwards) == (per_sweep * 7, 0)


def test_a_schedule_nests_as_a_block_of_another():
    """A schedule follows the kernel protocol: nested as the only block it gives the very chain
    of the flat schedule, and with `repeat 2` the chain of two flat sweeps per sweep."""
    program = compile_file(ROOT / "specs" / "toy_joint.ebm")
    model = lower_energy(program, seed=0)
    variables = variable_table(program)
    table = sampler_table(program.sampler(default_sampler(program)))
    values = schedule.initial_values(
        table["inits"], variables, 16, torch.Generator().manual_seed(0)
    )

    def chain(sched, sweeps):
        target = Target(model, variables, cache=False)
        state = sched.run(sched.start(values), target, torch.Generator().manual_seed(3), sweeps)
        return state, target

    flat = schedule.build_schedule(table["blocks"], variables)
    nested = schedule.Schedule([(schedule.Schedule(flat.blocks), 1)])
    twice = schedule.Schedule([(schedule.Schedule(flat.blocks), 2)])
    assert nested.variables == flat.variables == ("y", "x")
    assert (nested.reads, nested.leaves) == (flat.blocks[0][0].reads, flat.blocks[-1][0].leaves)
    (a, ta), (b, tb) = chain(flat, 6), chain(nested, 6)
    (c, _), (d, _) = chain(flat, 12), chain(twice, 6)
    for one, other in ((a, b), (c, d)):
        for name in variables:
            assert torch.equal(one.point.values[name], other.point.values[name]), name
    assert ta.passes == tb.passes and d.sweeps == 6 and c.sweeps == 12
    # The nested block's state holds its inner blocks' diagnostics: the same acceptance counts.
    assert torch.equal(b.kernels[0][0].accepted, a.kernels[0].accepted)


# ---- no host synchronisation and no loop over chains in the sweep --------------------------------
# Calls that copy a tensor to the host (or need its values there to size the result).
SYNC_METHODS = {"item", "tolist", "numpy", "cpu", "nonzero", "unique", "masked_select"}
# Python scalars made from a tensor read it on the host.
SYNC_BUILTINS = {"float", "int", "bool", "complex"}
# Tensor reductions whose truth value a condition would read on the host.
REDUCTIONS = {"any", "all", "sum", "max", "min", "mean", "prod", "equal", "allclose", "isclose"}
# Names and attributes that stand for the batch (chains) axis in a loop bound.
BATCH_NAMES = {"batch", "chains", "n_chains"}
SPLITTERS = {"unbind", "split", "chunk", "tolist"}


def _conditions(tree: ast.AST):
    for node in ast.walk(tree):
        if isinstance(node, ast.If | ast.While | ast.IfExp | ast.Assert):
            yield node.test
        elif isinstance(node, ast.comprehension):
            yield from node.ifs


def _loop_iterables(tree: ast.AST):
    for node in ast.walk(tree):
        if isinstance(node, ast.For | ast.comprehension):
            yield node.iter


def _batch_sized(node: ast.AST) -> bool:
    """An expression that (heuristically) evaluates to the number of chains."""
    for sub in ast.walk(node):
        if isinstance(sub, ast.Name) and sub.id in BATCH_NAMES:
            return True
        if isinstance(sub, ast.Attribute) and sub.attr == "shape":
            return True
        if isinstance(sub, ast.Call):
            func = sub.func
            if isinstance(func, ast.Name) and func.id == "len":
                return True
            if isinstance(func, ast.Attribute) and func.attr in {"size", "numel"}:
                return True
    return False


def find_sync_points(function: ast.AST) -> list[str]:
    """Host syncs and per-chain loops in one function body, as 'line N: what' strings."""
    found = []
    for node in ast.walk(function):
        if not isinstance(node, ast.Call):
            continue
        func = node.func
        if isinstance(func, ast.Attribute) and func.attr in SYNC_METHODS:
            found.append(f"line {node.lineno}: .{func.attr}()")
        if (
            isinstance(func, ast.Name)
            and func.id in SYNC_BUILTINS
            and not all(isinstance(arg, ast.Constant) for arg in node.args)
        ):
            found.append(f"line {node.lineno}: {func.id}(...) of a value")
    for test in _conditions(function):
        for sub in ast.walk(test):
            if (
                isinstance(sub, ast.Call)
                and isinstance(sub.func, ast.Attribute)
                and sub.func.attr in REDUCTIONS
            ):
                found.append(f"line {sub.lineno}: condition on .{sub.func.attr}()")
    for iterable in _loop_iterables(function):
        call = iterable if isinstance(iterable, ast.Call) else None
        name = call.func.id if call and isinstance(call.func, ast.Name) else None
        attr = call.func.attr if call and isinstance(call.func, ast.Attribute) else None
        if name == "range" and any(_batch_sized(arg) for arg in call.args):
            found.append(f"line {iterable.lineno}: loop over range(<batch size>)")
        elif attr in SPLITTERS or (
            name in {"enumerate", "zip"}
            and any(
                isinstance(a, ast.Call)
                and isinstance(a.func, ast.Attribute)
                and a.func.attr in SPLITTERS
                for a in call.args
            )
        ):
            found.append(f"line {iterable.lineno}: loop over the rows of a tensor")
    return sorted(set(found))


def hot_functions(tree: ast.Module, classes=None):
    """(qualified name, node) of every function that runs inside a sweep: all module-level
    functions and methods, or only the methods of `classes` when given; never `__init__`."""
    for node in tree.body:
        if isinstance(node, ast.FunctionDef) and classes is None:
            yield node.name, node
        elif isinstance(node, ast.ClassDef) and (classes is None or node.name in classes):
            for item in node.body:
                if isinstance(item, ast.FunctionDef) and item.name != "__init__":
                    yield f"{node.name}.{item.name}", item


def scan_source(text: str, classes=None) -> dict[str, list[str]]:
    """{function: findings} for the hot functions of one module's source text."""
    tree = ast.parse(text)
    return {name: find_sync_points(node) for name, node in hot_functions(tree, classes)}


KERNEL_DIR = Path(kernels.__file__).parent
HOT_PATH = [(KERNEL_DIR / f"{name}.py", None) for name in kernels.KERNEL_FILES]
HOT_PATH.append((Path(schedule.__file__), {"Schedule"}))


def test_hot_path_lists_every_kernel_file():
    files = {path.stem for path in KERNEL_DIR.glob("*.py")} - {"__init__"}
    assert files == set(kernels.KERNEL_FILES)


def test_sweep_hot_path_has_no_host_sync_and_no_loop_over_chains():
    scanned, offenders = set(), {}
    for path, classes in HOT_PATH:
        for function, found in scan_source(path.read_text(encoding="utf-8"), classes).items():
            scanned.add(function)
            if found:
                offenders[f"{path.name}:{function}"] = found
    assert offenders == {}
    # The scan covered the sweep itself, not an empty selection.
    expected = {"Schedule.sweep", "Schedule.run", "GWG.step", "GWG._log_proposal", "GWG._apply"}
    expected |= {"Langevin.step", "MALA.step", "HMC.step", "Gibbs.step", "Metropolis.step"}
    expected |= {"Metropolis._site_move", "Target.evaluate", "select", "metropolis_accept"}
    assert expected <= scanned, expected - scanned


# Each snippet is a kernel `step` with one fault, and the finding the scan must report.
BAD_SNIPPETS = [
    ("rate = accept.float().mean().item()", ".item()"),
    ("counts = state.accepted.tolist()", ".tolist()"),
    ("host = log_alpha.cpu()", ".cpu()"),
    ("rows = accept.nonzero()", ".nonzero()"),
    ("threshold = float(log_alpha.max())", "float(...) of a value"),
    ("moved = int(accept.sum())", "int(...) of a value"),
    ("ok = bool(accept.any())", "bool(...) of a value"),
    ("if accept.any():\n            state = state", "condition on .any()"),
    ("while log_alpha.min() < 0:\n            break", "condition on .min()"),
    ("for chain in range(batch):\n            pass", "loop over range(<batch size>)"),
    ("for i in range(point.f.shape[0]):\n            pass", "loop over range(<batch size>)"),
    ("for i in range(len(accept)):\n            pass", "loop over range(<batch size>)"),
    ("rows = [r for r in accept.unbind(0)]", "loop over the rows of a tensor"),
    ("for i, r in enumerate(accept.split(1)):\n            pass", "loop over the rows of a tensor"),
]

SNIPPET = """\
class Kernel:
    def __init__(self, temperature):
        self.temperature = float(temperature)  # setup, not the hot path

    def step(self, point, state, target, generator):
        accept = point.f > 0
        log_alpha = point.f
        batch = accept.shape[0]
        {line}
        return point, state
"""


@pytest.mark.parametrize(("line", "finding"), BAD_SNIPPETS, ids=[f for _, f in BAD_SNIPPETS])
def test_scan_catches_each_kind_of_sync(line, finding):
    findings = scan_source(SNIPPET.format(line=line))["Kernel.step"]
    assert len(findings) == 1 and findings[0].endswith(finding), findings


def test_scan_accepts_the_allowed_constructs():
    """Loops over sites (Gibbs) and variables, Python-int bookkeeping, None checks, scalar casts
    in `__init__`: none of them reads a tensor on the host."""
    allowed = """\
        for site in range(sites):
            x = values[name]
        for name, size in zip(self.variables, sizes, strict=True):
            pass
        if point.grads is not None and all(n in point.grads for n in names):
            steps = state.steps + 1
        total = sum(t.pow(2).reshape(t.shape[0], -1).sum(1) for t in tensors)"""
    assert scan_source(SNIPPET.format(line=allowed.strip())) == {"Kernel.step": []}


def test_scan_of_the_real_gwg_fails_once_an_item_call_is_added():
    source = inspect.getsource(kernels.gwg)
    anchor = "        accept = metropolis_accept(log_alpha, generator) & movable\n"
    assert anchor in source
    broken = source.replace(anchor, anchor + "        rate = accept.float().mean().item()\n")
    assert scan_source(source)["GWG.step"] == []
    assert [f.split(": ")[1] for f in scan_source(broken)["GWG.step"]] == [".item()"]


@pytest.mark.cuda
@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device")
def test_cuda_sweeps_never_synchronise():
    program, model = _dsprites_model()
    model = model.to("cuda")
    variables = variable_table(program)
    table = sampler_table(program.sampler(default_sampler(program)))
    generator = torch.Generator(device="cuda").manual_seed(0)
    values = schedule.initial_values(table["inits"], variables, 8, generator, device="cuda")
    target = Target(model, variables, cache=False)
    chain = schedule.build_schedule(table["blocks"], variables)
    state = chain.run(chain.start(values), target, generator, 1)  # warm-up (cuDNN, allocator)
    torch.cuda.synchronize()
    torch.cuda.set_sync_debug_mode("error")
    try:
        state = chain.run(state, target, generator, 3)
    finally:
        torch.cuda.set_sync_debug_mode("default")
    assert target.passes == 8
