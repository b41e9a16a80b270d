"""Spec identifiers and spec text can never become Python code.

(a) Variables and bindings named after Python keywords, builtins, dunders and the names the emitted
module itself uses (`class`, `lambda`, `__import__`, `torch`, `forward`, `training`, `self`,
`values`, `batch`, ...) check, compile to ruff-clean code that runs without ebmspec, and give
energies bit-exactly equal to the in-process model.
(b) A spec full of injection payloads (in its doc, its string arguments, its file name, and names
such as `exec` or `system`) goes through check, every compile stage, lowering and import/run of the
emitted module while `eval`, `exec`, `compile` and `os.system` are watched: no payload reaches any
of them (except the import system compiling the emitted file, whose payloads are shown to sit
inside string literals only), and no `PWNED` file appears.
"""

from __future__ import annotations

import ast
import builtins
import importlib.util
import os
import sys
import types
from pathlib import Path

import torch

from ebmspec.api import compile_file
from ebmspec.runtime.model.energy import lower_energy, random_values, variable_table
from tests.codegen.harness import assert_exact, compare_emitted
from tests.conftest import ROOT

KEYWORDS_SPEC = """\
model lambda "Python keywords, builtins and dunders as names"

variables {
  class      : real[3]
  __import__ : binary[2]
  torch      : real[2]
  self       : categorical(2)[2]
  values     : real[4]
  batch      : binary[3]
  sum        : categorical(4)
  None       : real[1]
  super      : real[2] latent
  v_class    : real[2]
}

energy {
  lambda = mlp(concat(class, onehot(self), torch), hidden = [4], out = 4)
  forward = linear(concat(__import__, batch), out = 4)
  training = embedding(self, dim = 2)
  def = quadratic(batch)
  import = bilinear(training, class)
  True = dot(forward, values) + sum(None) + sum(super)
  __init__ = lambda[sum] + def + import
  state_dict = mlp(values, hidden = [3])
  _modules = linear(v_class)
  __dict__ = linear(concat(torch, v_class), bias = false)
  __class__ = mlp(concat(torch, None), hidden = [2], act = elu)
  l_lambda = __init__ + True + _modules + __dict__ + __class__
  t0 = l_lambda * 2
  return t0 + state_dict - gaussian(torch, mean = 0.5)
}
"""

KEYWORD_BLOCKS = (
    "lambda",
    "forward",
    "training",
    "def",
    "import",
    "state_dict",
    "_modules",
    "__dict__",
    "__class__",
)


def test_keyword_names_compile_run_and_match(tmp_path):
    spec = tmp_path / "keywords.ebm"
    spec.write_text(KEYWORDS_SPEC, encoding="utf-8")
    program = compile_file(spec)
    assert {v.name for v in program.variables} >= {"class", "__import__", "torch", "self", "batch"}

    model = lower_energy(program, seed=1)
    assert set(model.blocks.keys()) == set(KEYWORD_BLOCKS)
    # The blocks stay parameters of the model, under their own names, not attributes of it.
    names = {name.split(".")[1] for name, _ in model.named_parameters()}
    assert names == set(KEYWORD_BLOCKS)
    assert isinstance(model.training, bool) and callable(model.forward)
    model.eval()
    assert model.training is False and model.blocks["training"].training is False

    result = compare_emitted(program, tmp_path / "run", spec_name=spec.name, batch=3)
    assert_exact(result)
    assert 'MODEL_NAME = "lambda"' in result.source


def test_keyword_names_through_the_cli(cli, tmp_path):
    spec = tmp_path / "keywords.ebm"
    spec.write_text(KEYWORDS_SPEC, encoding="utf-8")
    status, out, err = cli("check", str(spec))
    assert status == 0, err
    assert "__class__" in out and "state_dict" in out
    status, _, err = cli("compile", str(spec), "-o", str(tmp_path / "model.py"))
    assert status == 0, err
    assert (tmp_path / "model.py").read_text(encoding="utf-8").startswith('"""Standalone')
    mask = os.umask(0)
    os.umask(mask)
    assert (tmp_path / "model.py").stat().st_mode & 0o777 == 0o666 & ~mask  # not private


# ---- (b) no spec text is ever executed ----------------------------------------------------------
MARKERS = ("PWNED", "system(", "__import__(", "import os")

DOC = (
    "__import__('os').system('touch PWNED') "
    "\"); import os; os.system('touch PWNED'); (\" "
    '""" \'\'\' \\" \\n \\\\ '
    "\n__import__('os').system('touch PWNED')  # a real newline\n"
    "{{ 7 * 7 }}{% if true %}PWNED{% endif %} [/bold] ${PWNED} `touch PWNED`"
)
FILE_ARG = "data/\"); __import__('os').system('touch PWNED'); (\".csv"
LABEL_ARG = "'''\n__import__('os').system('touch PWNED')\n'''\"\"\""
SPEC_FILE_NAME = "pay__import__('os').system('touch PWNED')\"\"\"'''.ebm"


def ebm_string(text: str) -> str:
    """A Python string as an .ebm string literal (the language knows \\\\ \\" \\n \\t)."""
    escaped = text.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n")
    return '"' + escaped.replace("\t", "\\t") + '"'


PAYLOAD_SPEC = f"""\
# __import__('os').system('touch PWNED')  (a comment: ignored)
model __import__ {ebm_string(DOC)}

data csv(file = {ebm_string(FILE_ARG)}, features = 2, label = {ebm_string(LABEL_ARG)}, classes = 3)

variables {{
  x    : real[2]
  y    : categorical(3)
  exec : binary[2] latent
  eval : real[2] latent
}}

energy {{
  system = mlp(concat(x, onehot(y), exec, eval), hidden = [4])
  os = sum(eval) + gaussian(x, mean = 0)
  return system + os
}}
"""


def _carries_payload(value) -> bool:
    """Whether source text, an AST, or a code object given to eval/exec/compile has a payload."""
    if isinstance(value, bytes | bytearray | memoryview):
        value = bytes(value).decode("utf-8", "replace")
    if isinstance(value, ast.AST):
        value = ast.unparse(value)
    if isinstance(value, types.CodeType):
        return any(
            _carries_payload(c) for c in value.co_consts if isinstance(c, str | types.CodeType)
        )
    return isinstance(value, str) and any(marker in value for marker in MARKERS)


def _code_outside_literals(source: str) -> str:
    """`source` with every string constant (docstrings, f-string parts) blanked out."""
    lines = [line.encode("utf-8") for line in source.splitlines(keepends=True)]
    for node in ast.walk(ast.parse(source)):
        if not (isinstance(node, ast.Constant) and isinstance(node.value, str)):
            continue
        first, last = node.lineno - 1, node.end_lineno - 1  # offsets are UTF-8 bytes
        for row in range(first, last + 1):
            start = node.col_offset if row == first else 0
            end = node.end_col_offset if row == last else len(lines[row].rstrip(b"\r\n"))
            lines[row] = lines[row][:start] + b" " * (end - start) + lines[row][end:]
    return b"".join(lines).decode("utf-8")


def _assignments(source: str) -> dict[str, object]:
    """Top-level `NAME = <literal>` assignments of a module, evaluated with ast.literal_eval."""
    found = {}
    for node in ast.parse(source).body:
        if isinstance(node, ast.Assign) and len(node.targets) == 1:
            target = node.targets[0]
            if isinstance(target, ast.Name):
                try:
                    found[target.id] = ast.literal_eval(node.value)
                except ValueError:
                    continue
    return found


def test_no_spec_text_is_ever_executed(cli, monkeypatch, tmp_path):
    cwd = tmp_path / "cwd"
    cwd.mkdir()
    monkeypatch.chdir(cwd)
    spec = tmp_path / SPEC_FILE_NAME
    spec.write_text(PAYLOAD_SPEC, encoding="utf-8")
    emitted_path = tmp_path / "emitted_payload.py"

    calls: list[tuple[str, str]] = []  # (function, filename) of calls that saw a payload
    real_eval, real_exec, real_compile = builtins.eval, builtins.exec, builtins.compile

    def watched_eval(source, *args, **kwargs):
        if _carries_payload(source):
            calls.append(("eval", "<eval>"))
        return real_eval(source, *args, **kwargs)

    def watched_exec(source, *args, **kwargs):
        if _carries_payload(source):
            name = source.co_filename if isinstance(source, types.CodeType) else "<exec>"
            calls.append(("exec", name))
        return real_exec(source, *args, **kwargs)

    def watched_compile(source, filename, *args, **kwargs):
        if _carries_payload(source):
            calls.append(("compile", os.fsdecode(filename)))
        return real_compile(source, filename, *args, **kwargs)

    def watched_system(command):
        calls.append(("os.system", command))
        return 1

    monkeypatch.setattr(builtins, "eval", watched_eval)
    monkeypatch.setattr(builtins, "exec", watched_exec)
    monkeypatch.setattr(builtins, "compile", watched_compile)
    monkeypatch.setattr(os, "system", watched_system)

    # Check, every compile stage, lowering and the in-process model. (`check` would read the
    # csv, which does not exist here: E620, a located error; the path is data, never code.)
    import ebmspec.cli.commands.check as check_command

    monkeypatch.setattr(check_command, "FILE_CHECKED", ())
    status, out, err = cli("check", str(spec))
    assert status == 0, err
    assert "[/bold]" in out  # Rich markup in the doc is printed, not interpreted
    for stage in ("ast", "ir", "schedule"):
        status, out, err = cli("compile", str(spec), "--emit", stage)
        assert status == 0, err
    status, _, err = cli("compile", str(spec), "-o", str(emitted_path))
    assert status == 0, err
    program = compile_file(spec)
    assert program.doc == DOC and program.name == "__import__"
    assert dict(program.data.source.args)["file"] == FILE_ARG
    assert dict(program.data.source.args)["label"] == LABEL_ARG
    model = lower_energy(program, seed=0)
    values = random_values(program, 2, torch.Generator().manual_seed(0))
    with torch.no_grad():
        expected = model(values)
    assert calls == []

    # Import and run the emitted module in this (watched) process.
    source = emitted_path.read_text(encoding="utf-8")
    module_spec = importlib.util.spec_from_file_location("payload_energy", emitted_path)
    module = importlib.util.module_from_spec(module_spec)
    monkeypatch.setitem(sys.modules, "payload_energy", module)
    module_spec.loader.exec_module(module)
    emitted = module.EnergyModel()
    emitted.load_state_dict(model.state_dict())
    with torch.no_grad():
        assert torch.equal(emitted(values), expected)
    module.main(["--batch", "2"])
    # The hooks work: the import system compiled (and ran) the emitted file through them. Those
    # are the only calls that saw a payload, and the payloads there are string literals (below).
    assert ("compile", str(emitted_path)) in calls
    assert set(calls) <= {("compile", str(emitted_path)), ("exec", str(emitted_path))}

    # In the emitted code, the payloads appear only inside string literals.
    outside = _code_outside_literals(source)
    for marker in MARKERS:
        assert marker in source
        assert marker not in outside, marker
    constants = _assignments(source)
    assert constants["MODEL_DOC"] == DOC
    assert constants["MODEL_NAME"] == "__import__"
    assert constants["SPEC_FILE"] == SPEC_FILE_NAME
    # VARIABLES holds `Var(...)` rows of literals: compare the executed module's table.
    assert variable_table(program) == module.VARIABLES
    assert module.MODEL_DOC == DOC and module.SPEC_FILE == SPEC_FILE_NAME

    # And in a fresh interpreter without ebmspec, bit-exactly.
    result = compare_emitted(program, tmp_path / "run", spec_name=SPEC_FILE_NAME, batch=2)
    assert_exact(result)
    assert result.source == source

    for folder in (tmp_path, cwd, ROOT, Path.cwd()):
        assert not list(folder.glob("PWNED")), folder
    assert not list(tmp_path.rglob("PWNED"))
    assert not (Path.home() / "PWNED").exists()
