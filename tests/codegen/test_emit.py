"""The emitted standalone module: ruff-clean, runs without ebmspec, and is bit-exact.

Every spec in specs/ and a spec using every energy building block are emitted, linted with ruff,
imported in a fresh `python -I` in which `ebmspec` cannot be imported, and evaluated on the
parameters and inputs the in-process model saved: the energies must be equal bit for bit, since the
emitted code runs the same layer functions in the same order.
"""

from __future__ import annotations

import ast

import pytest
import torch

from ebmspec.api import compile_file, compile_spec
from ebmspec.codegen import emit_python
from ebmspec.runtime.model.energy import lower_energy
from ebmspec.source import Source
from tests.codegen.harness import assert_exact, compare_emitted, ruff_check, run_fresh
from tests.conftest import SPECS

# Every building block of the energy language at least once: parametric blocks (embedding,
# bilinear, quadratic/ising, mlp, linear with and without bias), gaussian with a predicted and a
# constant mean, dot, logsumexp, reshape, avgpool, JEM indexing, every activation, arithmetic with
# constants, unary minus, binary variables, a bounded real and a categorical array, the
# elementwise exp / log / abs / sqrt and the learned diagonal Gaussian.
EVERY_BLOCK = """\
model every_block "every energy building block"

variables {
  x : real[2]
  z : real[2, 3]
  y : categorical(3)
  c : categorical(3)[2]
  b : binary[4]
  r : real[2] in [-1, 2]
  v : real[1, 5, 4]
}

energy {
  e = embedding(c, dim = 4)
  m = linear(onehot(y), out = 2)
  g = gaussian(x, mean = m, std = 0.5) + gaussian(r, mean = 1.5)
  q = quadratic(b)
  bl = bilinear(e, concat(x, b))
  d = dot(mlp(x, hidden = [5], out = 3, act = tanh), onehot(y))
  j = mlp(concat(x, flatten(z)), hidden = [6], out = 3, act = leaky_relu)[y]
  s = logsumexp(reshape(z, shape = [3, 2])) - sum(relu(z)) * 0.5 + mean(sigmoid(z)) / 2
  w = sum(softplus(x) + gelu(x) - elu(x) * silu(x)) + sum(tanh(identity(x))) + sum(swish(x))
    + sum(leaky_relu(x))
  k = ising(b, bias = false) + -d
  alias = k
  return g + q + bl + j + s + w + alias + 3 - 1.5 * logsumexp(onehot(c) + 0.1)
    + sum(embedding(y, dim = 2)) + sum(linear(b, out = 2, bias = false)) + 2 * mlp(x)
    + mean(avgpool(v)) + sum(avgpool(v, size = 3))
    + sum(exp(-abs(x))) + sum(log(1 + sqrt(abs(z)))) + diag_gaussian(z) - sum(x ** 2) / 2 ** 2
    + sum(logsumexp(z, axis = 0)) - sum(mean(z, axis = -1) * sum(z, axis = 1))
    + sum(z[:, 1:] * z[:, :-1]) + z[1, -1] + sum(z[0]) + sum(v[0, ::2, 1:3])
    + sum(z * roll(z, shift = 1, axis = 1)) + sum(v * roll(v, shift = -2, axis = -1))
    + sum(clamp(x, min = -0.5, max = 0.5)) + sum(clamp(z, min = 0)) + sum(clamp(z, max = 0.1))
}
"""

EMITTED_OPS = {
    "op_add",
    "op_sub",
    "op_mul",
    "op_div",
    "op_neg",
    "op_onehot",
    "op_flatten",
    "op_concat",
    "op_reshape",
    "op_sum",
    "op_mean",
    "op_logsumexp",
    "op_dot",
    "op_index",
    "op_gaussian",
    "op_avgpool",
    "op_relu",
    "op_elu",
    "op_silu",
    "op_gelu",
    "op_tanh",
    "op_sigmoid",
    "op_softplus",
    "op_leaky_relu",
    "op_identity",
    "op_exp",
    "op_log",
    "op_abs",
    "op_sqrt",
    "op_pow",
    "op_subscript",
    "op_roll",
    "op_clamp",
}
EMITTED_CLASSES = {"MLP", "Embedding", "Bilinear", "Quadratic", "DiagGaussian"}


def _called_names(source: str, method: str) -> set[str]:
    """Names of the functions called inside `EnergyModel.<method>` of emitted source."""
    tree = ast.parse(source)
    model = next(n for n in tree.body if isinstance(n, ast.ClassDef) and n.name == "EnergyModel")
    body = next(n for n in model.body if isinstance(n, ast.FunctionDef) and n.name == method)
    calls = [n for n in ast.walk(body) if isinstance(n, ast.Call)]
    return {n.func.id for n in calls if isinstance(n.func, ast.Name)}


@pytest.mark.parametrize("spec", SPECS, ids=lambda p: p.stem)
def test_paper_spec_emits_lint_clean_standalone_exact_code(spec, tmp_path):
    program = compile_file(spec)
    result = compare_emitted(program, tmp_path, spec_name=spec.name, batch=2)
    assert_exact(result)
    tree = ast.parse(result.source)
    imported = {
        alias.name.split(".")[0]
        for node in ast.walk(tree)
        if isinstance(node, ast.Import | ast.ImportFrom)
        for alias in (
            node.names if isinstance(node, ast.Import) else [ast.alias(node.module or "")]
        )
    }
    standard = {
        "__future__",
        "argparse",
        "ast",
        "itertools",
        "json",
        "math",
        "struct",
        "pathlib",
        "typing",
    }
    assert imported <= standard | {"torch"}


def test_every_block_is_emitted_and_exact(tmp_path):
    spec = tmp_path / "every_block.ebm"
    spec.write_text(EVERY_BLOCK, encoding="utf-8")
    program = compile_file(spec)
    result = compare_emitted(program, tmp_path / "run", spec_name=spec.name, batch=4)
    assert_exact(result)
    assert _called_names(result.source, "forward") >= EMITTED_OPS
    assert _called_names(result.source, "__init__") >= EMITTED_CLASSES
    assert torch.isfinite(result.expected).all()


def test_emission_is_deterministic():
    for spec in SPECS:
        program = compile_file(spec)
        assert emit_python(program, spec.name) == emit_python(compile_file(spec), spec.name)


def test_fresh_interpreter_cannot_import_ebmspec(tmp_path):
    """The guard itself: `import ebmspec.runtime` fails too, and nothing else is affected."""
    code = """
try:
    import ebmspec.runtime.model.ops  # noqa: F401
except ImportError as error:
    assert "hidden" in str(error), error
else:
    raise SystemExit("ebmspec.runtime is importable")
import torch  # noqa: F401
print("ok")
"""
    assert run_fresh(code, cwd=tmp_path).stdout.strip() == "ok"


def test_emitted_module_runs_as_a_script(tmp_path):
    """`python emitted.py --batch 3` works with fresh parameters and prints 3 energies."""
    program = compile_file(SPECS[0])
    path = tmp_path / "model.py"
    path.write_text(emit_python(program, SPECS[0].name), encoding="utf-8")
    ruff_check(path)
    code = f"""
import runpy
sys.argv = [{str(path)!r}, "--batch", "3"]
runpy.run_path(sys.argv[0], run_name="__main__")
"""
    out = run_fresh(code, cwd=tmp_path).stdout
    count = sum(p.numel() for p in lower_energy(program).parameters())
    assert f"{program.name}: {count} parameters" in out
    assert out.count(",") >= 2 and "f = [" in out
    # `--output grid.png` used to write a torch zip archive under a .png name: now refused.
    refused = f"""
import runpy
sys.argv = [{str(path)!r}, "--steps", "0", "--output", "grid.png"]
try:
    runpy.run_path(sys.argv[0], run_name="__main__")
except SystemExit as stop:
    print("exit", stop.code)
"""
    done = run_fresh(refused, cwd=tmp_path)
    assert "exit 2" in done.stdout and not (tmp_path / "grid.png").exists()
    assert "--output 'grid.png': samples are saved as a torch file, name it *.pt" in done.stderr


def test_avgpool_averages_whole_windows():
    """`avgpool(v, size = 2)` on a 5 x 4 image: the 2 x 2 window means of its first 4 rows (the
    fifth row is past the last whole window), here summed."""
    source = Source(
        "pool.ebm",
        'model pool "pool"\nvariables {\n  v : real[1, 5, 4]\n}\n'
        "energy {\n  return sum(avgpool(v, size = 2))\n}\n",
    )
    model = lower_energy(compile_spec(source))
    v = torch.randn(3, 1, 5, 4, generator=torch.Generator().manual_seed(0))
    windows = v[:, :, :4, :].reshape(3, 1, 2, 2, 2, 2).mean(dim=(3, 5))
    assert torch.allclose(model({"v": v}), windows.sum(dim=(1, 2, 3)), atol=1e-6)
