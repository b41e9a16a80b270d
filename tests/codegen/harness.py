"""Run emitted modules the way a user would: lint them, then import them in a fresh interpreter.

In: an `ir.Program` (and a folder to work in). Out: the in-process energies and the energies the
emitted module computes in a subprocess (`python -I`, cwd = that folder) in which `ebmspec` cannot
be imported, from the same saved parameters and inputs, so tests can demand bit-exact equality.
"""

from __future__ import annotations

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
from ebmspec.runtime.energy import lower_energy, random_values, variable_table
from ebmspec.runtime.params import save_parameters

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

# argv: module path, parameters, inputs, output JSON, torch threads, batch for random_values.
RUN_EMITTED = """
import importlib.util
import json
from pathlib import Path

import torch

module_path, parameters, inputs, output, threads, batch = sys.argv[1:]
torch.set_num_threads(int(threads))
spec = importlib.util.spec_from_file_location("emitted_energy", module_path)
module = importlib.util.module_from_spec(spec)
sys.modules["emitted_energy"] = module
spec.loader.exec_module(module)

model = module.load_parameters(parameters).eval()
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
    work.mkdir(parents=True, exist_ok=True)
    source = emit_python(program, spec_name)
    module_path = work / "emitted_energy.py"
    module_path.write_text(source, encoding="utf-8")
    ruff_check(module_path)

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
