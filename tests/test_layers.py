"""The pipeline's layer order, enforced on every import in `ebmspec/` (lazy ones included).

frontend -> semantic -> ir -> passes -> runtime / codegen -> api -> cli: a module may import its
own layer and the layers before it, never a later one. `source`, `diagnostics` and `resources`
are the base every layer uses; `ir` is data every layer after the frontend reads. Nothing but
`__main__` imports the CLI, and no bench or test reaches into its private names.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

from tests.conftest import ROOT

PACKAGE = ROOT / "ebmspec"
# Rank of each layer; a module may import modules of equal or lower rank only.
RANKS = {
    "ebmspec": 0,  # the package itself (its version)
    "source": 0,
    "diagnostics": 0,
    "resources": 0,
    "frontend": 1,
    "ir": 1,
    "semantic": 2,
    "passes": 3,
    "runtime": 4,
    "codegen": 5,
    "api": 6,
    "runs": 6,
    "conditions": 6,
    "dumps": 6,
    "reference": 6,
    "summary": 7,
    "progress": 7,
    "train_display": 7,
    "eval_output": 7,
    "sample_output": 7,
    "train_command": 7,
    "cli": 7,
    "__main__": 8,
}


def module_name(path: Path) -> str:
    parts = list(path.relative_to(ROOT).with_suffix("").parts)
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def layer(name: str) -> str:
    """`ebmspec.runtime.kernels.gwg` -> `runtime`; `ebmspec` -> `ebmspec`."""
    parts = name.split(".")
    return parts[1] if len(parts) > 1 else parts[0]


def imported(tree: ast.AST, importer: str) -> list[tuple[int, str]]:
    """(line, module) of every ebmspec import in the tree, relative ones resolved."""
    found = []
    package = importer.rsplit(".", 1)[0]
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found += [(node.lineno, a.name) for a in node.names if a.name.startswith("ebmspec")]
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                anchor = package.split(".")[: len(package.split(".")) - node.level + 1]
                base = ".".join([*anchor, base] if base else anchor)
            if not base.startswith("ebmspec"):
                continue
            # `from ebmspec import cli` imports the module `ebmspec.cli`.
            modules = [f"{base}.{a.name}" for a in node.names if _is_module(f"{base}.{a.name}")]
            found += [(node.lineno, m) for m in modules] or [(node.lineno, base)]
    return found


def _is_module(name: str) -> bool:
    path = ROOT.joinpath(*name.split("."))
    return path.with_suffix(".py").is_file() or (path / "__init__.py").is_file()


def wrong_way_imports(text: str, importer: str) -> list[str]:
    """`line: importer -> imported` for each import of a later layer than the importer's."""
    rank = RANKS[layer(importer)]
    problems = []
    for line, target in imported(ast.parse(text), importer):
        target_layer = layer(target)
        if target_layer not in RANKS:
            problems.append(f"{line}: {importer} -> {target} (layer `{target_layer}` unranked)")
        elif RANKS[target_layer] > rank or (target_layer == "cli" and layer(importer) != "cli"):
            problems.append(f"{line}: {importer} -> {target}")
    return problems


MODULES = sorted(PACKAGE.rglob("*.py"))


def test_every_module_has_a_layer():
    assert {layer(module_name(p)) for p in MODULES} <= RANKS.keys()


@pytest.mark.parametrize("path", MODULES, ids=lambda p: str(p.relative_to(ROOT)))
def test_imports_follow_the_layer_order(path):
    name = module_name(path)
    if layer(name) == "__main__":
        return
    assert wrong_way_imports(path.read_text(encoding="utf-8"), name) == []


def test_the_check_catches_wrong_way_imports():
    """The check itself, on imports that break the order (lazy and relative ones too)."""
    semantic = "from ebmspec.runtime.energy import lower_energy\n"
    assert wrong_way_imports(semantic, "ebmspec.semantic.checker") == [
        "1: ebmspec.semantic.checker -> ebmspec.runtime.energy"
    ]
    lazy = "def f():\n    from ebmspec import cli, ir\n"
    assert wrong_way_imports(lazy, "ebmspec.runs") == ["2: ebmspec.runs -> ebmspec.cli"]
    relative = "from ..api import compile_spec\n"
    assert wrong_way_imports(relative, "ebmspec.runtime.trainer") == [
        "1: ebmspec.runtime.trainer -> ebmspec.api"
    ]
    assert wrong_way_imports("from ebmspec.ir import Program\n", "ebmspec.passes.x") == []


def test_nothing_reaches_into_the_cli():
    """Benches and tests use the library (`api`, `runs`, `runtime`), not the CLI's internals;
    they may run the CLI through its `main`."""
    offenders = []
    for path in [*sorted((ROOT / "bench").glob("*.py")), *sorted((ROOT / "tests").rglob("*.py"))]:
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.ImportFrom) and node.module == "ebmspec.cli":
                offenders += [f"{path.name}: {a.name}" for a in node.names if a.name != "main"]
    assert offenders == []
