"""Run emitted modules the way a user would: lint them, then import them in a fresh interpreter.

In: an `ir.Program` (and a folder to work in). Out: the in-process energies and the energies the
emitted module computes in a subprocess (`python -I`, cwd = that folder) in which `ebmspec` cannot
be imported, from the same saved parameters and inputs, so tests can demand bit-exact equality;
likewise the chains `ebmspec.runtime.sampling.sampler.sample` and the emitted `sample` (and
`main`) draw for the same seeds and conditions (`compare_sampling`).
"""

from __future__ import annotations

import inspect
import json
import shutil
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

import torch
from safetensors.torch import save_file

from ebmspec import ir
from ebmspec.codegen import emit_python
from ebmspec.runtime.io.weights import save_parameters
from ebmspec.runtime.model.energy import lower_energy, random_values, variable_table
from ebmspec.runtime.sampling import sampler as sampling

# Prepended to every subprocess: a meta-path finder that refuses `ebmspec` and its submodules (the
# editable install would otherwise find it), and a check that the refusal works.
HIDE_EBMSPEC = """\
import importlib.abc
import sys


class _NoEbmspec(importlib.abc.MetaPathFinder):
    def find_spec(self, name, path=None, target=None):
        if name == "ebmspec" or name.startswith("ebmspec."):
            raise ImportError(f"ebmspec is hidden in this interpreter ({name})")
        return None


sys.meta_path.insert(0, _NoEbmspec())
try:
    import ebmspec  # noqa: F401
except ImportError:
    pass
else:
    raise SystemExit("ebmspec is importable in the fresh interpreter")
"""

# The start of every script below: argv[1] the emitted module, imported as `module`; argv[2] its
# parameters, loaded into `model`; argv[5] the torch threads (those of the test process).
LOAD_EMITTED = """
import importlib.util

import torch

module_path, parameters = sys.argv[1:3]
torch.set_num_threads(int(sys.argv[5]))
spec = importlib.util.spec_from_file_location("emitted_energy", module_path)
module = importlib.util.module_from_spec(spec)
sys.modules["emitted_energy"] = module
spec.loader.exec_module(module)
model = module.load_parameters(parameters).eval()
"""

# argv: module path, parameters, inputs, output JSON, torch threads, batch for random_values.
RUN_EMITTED = (
    LOAD_EMITTED
    + """
import json
from pathlib import Path

inputs, output, _, batch = sys.argv[3:]
assert not model.training and not any(b.training for b in model.blocks.values())
values = module.read_safetensors(inputs)
with torch.no_grad():
    energies = model(values)
generated = module.random_values(module.VARIABLES, int(batch), torch.Generator().manual_seed(7))
module.main(["--parameters", parameters, "--batch", "2"])
assert not any(m == "ebmspec" or m.startswith("ebmspec.") for m in sys.modules), "ebmspec loaded"
Path(output).write_text(json.dumps({
    "dtype": str(energies.dtype),
    "shape": list(energies.shape),
    "energies": energies.double().tolist(),
    "parameters": sum(p.numel() for p in model.parameters()),
    "variables": {k: [list(r) if isinstance(r, tuple) else r for r in row]
                  for k, row in module.VARIABLES.items()},
    "random": {k: v.double().tolist() for k, v in generated.items()},
    "random_dtypes": {k: str(v.dtype) for k, v in generated.items()},
}))
"""
)


def ruff_command() -> list[str]:
    """The ruff of the running environment (the venv's bin first, then PATH, then `-m ruff`)."""
    beside = Path(sys.executable).parent / "ruff"
    if beside.exists():
        return [str(beside)]
    found = shutil.which("ruff")
    return [found] if found else [sys.executable, "-m", "ruff"]


def ruff_check(path: Path) -> None:
    """Lint one file with ruff's defaults (isolated, and with config discovery from its folder)
    and with this repository's own configuration, and check it is `ruff format`-clean."""
    project = ["--config", str(Path(__file__).resolve().parents[2] / "pyproject.toml")]
    for command in (
        ["check", "--no-cache", "--isolated"],
        ["check", "--no-cache"],
        ["check", "--no-cache", *project],
        ["format", "--check", "--no-cache", *project],
    ):
        done = subprocess.run(
            [*ruff_command(), *command, str(path)],
            cwd=path.parent,
            capture_output=True,
            text=True,
            timeout=60,
        )
        assert done.returncode == 0, f"ruff {' '.join(command)} failed:\n{done.stdout}"


def run_fresh(code: str, *args: str, cwd: Path) -> subprocess.CompletedProcess:
    """Run `code` in `python -I` (no user site, no PYTHON* variables, no cwd on sys.path) with
    `ebmspec` hidden; fails the test with the subprocess output if it exits non-zero."""
    done = subprocess.run(
        [sys.executable, "-I", "-c", HIDE_EBMSPEC + code, *args],
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 0, f"subprocess failed:\n{done.stdout}\n{done.stderr}"
    return done


def emit_checked(program: ir.Program, work: Path, spec_name: str) -> tuple[str, Path]:
    """Emit `program` into `work/emitted_energy.py` and lint it; returns (source, path)."""
    work.mkdir(parents=True, exist_ok=True)
    source = emit_python(program, spec_name)
    module_path = work / "emitted_energy.py"
    module_path.write_text(source, encoding="utf-8")
    ruff_check(module_path)
    return source, module_path


@dataclass
class Comparison:
    source: str  # the emitted module's text
    module_path: Path
    expected: torch.Tensor  # in-process energies
    actual: torch.Tensor  # energies of the emitted module, exactly as it computed them
    report: dict  # everything else the subprocess wrote
    stdout: str
    parameters: int  # in-process parameter count


def compare_emitted(
    program: ir.Program, work: Path, *, spec_name: str = "spec.ebm", batch: int = 3, seed: int = 5
) -> Comparison:
    """Emit, lint, and run `program` in a fresh interpreter against the in-process model."""
    source, module_path = emit_checked(program, work, spec_name)
    model = lower_energy(program, seed=seed)
    parameters = work / "parameters.safetensors"
    save_parameters(model, parameters, program.name)
    values = random_values(program, batch, torch.Generator().manual_seed(seed))
    inputs = work / "inputs.safetensors"
    save_file({k: v.contiguous() for k, v in values.items()}, str(inputs))
    with torch.no_grad():
        expected = model(values)

    output = work / "energies.json"
    done = run_fresh(
        RUN_EMITTED,
        str(module_path),
        str(parameters),
        str(inputs),
        str(output),
        str(torch.get_num_threads()),
        str(batch),
        cwd=work,
    )
    report = json.loads(output.read_text(encoding="utf-8"))
    assert report["dtype"] == str(expected.dtype) and report["shape"] == [batch]
    # float32 -> float64 -> JSON (repr round-trips) -> float64 -> float32 is lossless.
    actual = torch.tensor(report["energies"], dtype=torch.float64).to(expected.dtype)

    generated = random_values(program, batch, torch.Generator().manual_seed(7))
    assert report["random_dtypes"] == {k: str(v.dtype) for k, v in generated.items()}
    for name, tensor in generated.items():
        other = torch.tensor(report["random"][name], dtype=torch.float64).to(tensor.dtype)
        assert torch.equal(other.reshape(tensor.shape), tensor), name
    table = {
        k: [list(r) if isinstance(r, tuple) else r for r in row]
        for k, row in variable_table(program).items()
    }
    assert report["variables"] == table

    count = sum(p.numel() for p in model.parameters())
    return Comparison(source, module_path, expected, actual, report, done.stdout, count)


def assert_exact(result: Comparison) -> None:
    """Bit-exact energies and the same parameter count in and out of process."""
    assert torch.equal(result.actual, result.expected), (result.actual, result.expected)
    assert result.report["parameters"] == result.parameters
    assert f": {result.parameters} parameters" in result.stdout


def chain_record(state, target) -> dict:
    """What a test compares of one sampling run (the subprocess runs this very function)."""
    point = state.point
    return {
        "values": point.values,
        "f": point.f,
        "grads": point.grads,
        "kernels": [(k.steps, k.accepted, k.hops) for k in state.kernels],
        "sweeps": state.sweeps,
        "passes": (target.passes, target.forwards),
    }


MAIN_SEPARATOR = "--- main ---"  # printed before the output of `main`

# argv: module path, parameters, cases (torch.save'd list of keyword dicts for `sample`), output,
# torch threads, then the argv of one `main` call (may be empty).
RUN_SAMPLING = (
    inspect.getsource(chain_record)
    + LOAD_EMITTED
    + f"""
cases, output, _, *argv = sys.argv[3:]
runs = []
for case in torch.load(cases, weights_only=True):
    state, target = module.sample(model, **case)
    runs.append(chain_record(state, target))
    print("\\n".join(module.summary(state, target, case.get("sampler"))))
torch.save(runs, output)
if argv:
    print({MAIN_SEPARATOR!r})
    module.main(argv)
assert not any(m == "ebmspec" or m.startswith("ebmspec.") for m in sys.modules), "ebmspec loaded"
"""
)


@dataclass
class SamplingComparison:
    source: str
    module_path: Path
    parameters: Path  # the saved .safetensors, for `main` calls of the test
    expected: list[dict]  # in-process chain records, one per case
    actual: list[dict]  # the emitted module's, one per case
    stdout: str  # the summaries of the cases
    main_stdout: str  # what `main` printed


def compare_sampling(
    program: ir.Program,
    work: Path,
    cases: list[dict],
    *,
    spec_name: str = "spec.ebm",
    seed: int = 5,
    main_argv: list[str] | None = None,
) -> SamplingComparison:
    """Sample each case (keyword arguments of `sample`: chains, sweeps, seed, condition, sampler)
    in process with `ebmspec.runtime.sampling.sampler.sample` and in the emitted module in a fresh
    interpreter, from the same saved parameters; `main_argv` (with `{parameters}` filled in) is
    then run through the emitted `main` in that interpreter."""
    source, module_path = emit_checked(program, work, spec_name)
    model = lower_energy(program, seed=seed).eval()
    parameters = work / "parameters.safetensors"
    save_parameters(model, parameters, program.name)
    expected = [chain_record(*sampling.sample(program, model, **case)) for case in cases]

    cases_path, output = work / "cases.pt", work / "chains.pt"
    torch.save(cases, cases_path)
    argv = [a.replace("{parameters}", str(parameters)) for a in main_argv or []]
    done = run_fresh(
        RUN_SAMPLING,
        str(module_path),
        str(parameters),
        str(cases_path),
        str(output),
        str(torch.get_num_threads()),
        *argv,
        cwd=work,
    )
    actual = torch.load(output, weights_only=True)
    stdout, _, main_stdout = done.stdout.partition(MAIN_SEPARATOR + "\n")
    return SamplingComparison(
        source, module_path, parameters, expected, actual, stdout, main_stdout
    )


def assert_same_chains(expected: dict, actual: dict) -> None:
    """Bit-equal values, energies, gradients and diagnostics, and the same evaluation counts."""
    assert expected["sweeps"] == actual["sweeps"]
    assert expected["passes"] == actual["passes"]
    assert_equal_tensors(expected["values"], actual["values"])
    assert_equal_tensors({"f": expected["f"]}, {"f": actual["f"]})
    assert (expected["grads"] is None) == (actual["grads"] is None)
    assert_equal_tensors(expected["grads"] or {}, actual["grads"] or {})
    assert len(expected["kernels"]) == len(actual["kernels"])
    for index, (mine, theirs) in enumerate(
        zip(expected["kernels"], actual["kernels"], strict=True)
    ):
        assert mine[0] == theirs[0], index
        assert torch.equal(mine[1], theirs[1]) and torch.equal(mine[2], theirs[2]), index


def assert_equal_tensors(expected: dict, actual: dict) -> None:
    assert list(expected) == list(actual)
    for name, tensor in expected.items():
        other = actual[name]
        if tensor is None or other is None:
            assert tensor is None and other is None, name
            continue
        assert tensor.dtype == other.dtype and tensor.shape == other.shape, name
        diff = (tensor.double() - other.double()).abs().max().item() if tensor.numel() else 0.0
        assert torch.equal(tensor, other), f"{name}: max abs difference {diff}"
