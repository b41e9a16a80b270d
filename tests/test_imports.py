"""The import graph of `ebmspec/`, every import counted (function-level ones included).

Three rules, each checked on the graph and shown to catch a planted violation:

* no import circle anywhere: the graph of modules is acyclic;
* the pipeline's layer order: frontend -> semantic -> ir -> passes -> runtime / codegen -> api ->
  cli; a module imports its own layer and the layers before it, never a later one, and nothing but
  `__main__` and the CLI itself imports the CLI;
* the stage order inside the runtime: io, seeding and the allocator -> model -> sampling -> data
  -> training -> evaluation -> plots (the data statistics the samplers' init distributions read
  are computed in `data`; evaluation shards its work with training's process group; plots draw
  evaluations).
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

from tests.conftest import ROOT

PACKAGE = ROOT / "ebmspec"
# Rank of each layer (the name after `ebmspec.`); a module imports equal or lower ranks only.
LAYERS = {
    "ebmspec": 0,  # the package itself (its version)
    "source": 0,
    "diagnostics": 0,
    "resources": 0,
    "frontend": 1,
    "ir": 1,
    "energy_facts": 1,
    "semantic": 2,
    "passes": 3,
    "runtime": 4,
    "codegen": 5,
    "dumps": 5,
    "api": 6,
    "runs": 6,
    "run_index": 6,
    "conditions": 6,
    "reference": 6,
    "memory": 6,
    "cli": 7,
    "__main__": 8,
}
# Rank of each stage of the runtime (the name after `ebmspec.runtime.`).
STAGES = {
    "runtime": 0,  # the package itself
    "seeding": 0,
    "allocator": 0,
    "io": 0,
    "model": 1,
    "sampling": 2,
    "data": 3,
    "training": 4,
    "evaluation": 5,
    "plots": 6,
}


def module_name(path: Path) -> str:
    parts = list(path.relative_to(ROOT).with_suffix("").parts)
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def _is_module(name: str) -> bool:
    path = ROOT.joinpath(*name.split("."))
    return path.with_suffix(".py").is_file() or (path / "__init__.py").is_file()


def imported(text: str, importer: str, is_package: bool = False) -> list[tuple[int, str]]:
    """(line, module) of every ebmspec import in `text`, relative ones resolved; `from P import
    m` counts as importing the module `P.m` when there is one."""
    found = []
    package = importer if is_package else importer.rsplit(".", 1)[0]
    for node in ast.walk(ast.parse(text)):
        if isinstance(node, ast.Import):
            found += [(node.lineno, a.name) for a in node.names if a.name.startswith("ebmspec")]
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                anchor = package.split(".")[: len(package.split(".")) - node.level + 1]
                base = ".".join([*anchor, base] if base else anchor)
            if not base.startswith("ebmspec"):
                continue
            modules = [f"{base}.{a.name}" for a in node.names if _is_module(f"{base}.{a.name}")]
            found += [(node.lineno, m) for m in modules] or [(node.lineno, base)]
    return found


def import_graph(paths) -> dict[str, list[tuple[int, str]]]:
    return {
        module_name(path): imported(
            path.read_text(encoding="utf-8"), module_name(path), path.name == "__init__.py"
        )
        for path in paths
    }


def circles(graph: dict[str, list[tuple[int, str]]]) -> list[list[str]]:
    """Every strongly connected set of more than one module (or a module importing itself), each
    as a sorted list: Tarjan's algorithm, iterative."""
    edges = {name: sorted({target for _, target in targets}) for name, targets in graph.items()}
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found = []
    for root in sorted(edges):
        if root in index:
            continue
        work = [(root, 0)]
        while work:
            node, position = work.pop()
            if position == 0:
                index[node] = low[node] = len(index)
                stack.append(node)
                on_stack.add(node)
            children = edges.get(node, [])
            if position < len(children):
                work.append((node, position + 1))
                child = children[position]
                if child not in index:
                    work.append((child, 0))
                elif child in on_stack:
                    low[node] = min(low[node], index[child])
                continue
            if work and work[-1][0] != node:
                parent = work[-1][0]
                low[parent] = min(low[parent], low[node])
            if low[node] == index[node]:
                component = []
                while True:
                    member = stack.pop()
                    on_stack.discard(member)
                    component.append(member)
                    if member == node:
                        break
                if len(component) > 1 or node in edges.get(node, []):
                    found.append(sorted(component))
    return sorted(found)


def _rank(name: str, table: dict, depth: int) -> tuple[str, int | None]:
    parts = name.split(".")
    key = parts[depth] if len(parts) > depth else parts[depth - 1]
    return key, table.get(key)


def wrong_way_imports(graph: dict[str, list[tuple[int, str]]]) -> list[str]:
    """`importer:line -> imported` for each import of a later layer, of a later runtime stage,
    or of the CLI from outside it."""
    problems = []
    for importer, targets in graph.items():
        layer, rank = _rank(importer, LAYERS, 1)
        if importer == "ebmspec":  # the package re-exports the public API (ebmspec/api/), lazily
            rank = LAYERS["api"]
        for line, target in targets:
            target_layer, target_rank = _rank(target, LAYERS, 1)
            where = f"{importer}:{line} -> {target}"
            if rank is None or target_rank is None:
                problems.append(f"{where} (layer `{target_layer}` unranked)")
            elif target_rank > rank or (target_layer == "cli" and layer not in ("cli", "__main__")):
                problems.append(where)
            elif layer == target_layer == "runtime":
                stage, stage_rank = _rank(importer, STAGES, 2)
                target_stage, target_stage_rank = _rank(target, STAGES, 2)
                if stage_rank is None or target_stage_rank is None:
                    problems.append(f"{where} (stage `{stage}` or `{target_stage}` unranked)")
                elif target_stage_rank > stage_rank:
                    problems.append(f"{where} (stage {stage} imports the later {target_stage})")
    return sorted(problems)


MODULES = sorted(PACKAGE.rglob("*.py"))
GRAPH = import_graph(MODULES)


def test_the_graph_sees_every_module_and_lazy_imports():
    assert len(GRAPH) == len(MODULES) > 100
    # A function-level import of the CLI's own code is an edge like any other.
    assert any(line > 40 for line, _ in GRAPH["ebmspec.cli.commands.sample"])


def test_no_import_circles():
    assert circles(GRAPH) == []


def test_imports_follow_the_layer_and_stage_order():
    assert wrong_way_imports(GRAPH) == []


def test_every_runtime_module_has_a_stage():
    runtime = [name for name in GRAPH if name.startswith("ebmspec.runtime")]
    assert all(_rank(name, STAGES, 2)[1] is not None for name in runtime), runtime


def test_a_planted_circle_is_found():
    """The check itself: two evaluation modules importing each other (one lazily), as
    `evaluate` and `generation` once did, and a longer circle through three packages."""
    planted = {
        "ebmspec.runtime.evaluation.evaluate": imported(
            "from ebmspec.runtime.evaluation.generation import generation\n",
            "ebmspec.runtime.evaluation.evaluate",
        ),
        "ebmspec.runtime.evaluation.generation": imported(
            "def f():\n    from ebmspec.runtime.evaluation import evaluate\n",
            "ebmspec.runtime.evaluation.generation",
        ),
    }
    assert circles({**GRAPH, **planted}) == [
        ["ebmspec.runtime.evaluation.evaluate", "ebmspec.runtime.evaluation.generation"]
    ]
    longer = {"a": [(1, "b")], "b": [(1, "c")], "c": [(1, "a")], "d": [(1, "a")], "e": [(1, "e")]}
    assert circles(longer) == [["a", "b", "c"], ["e"]]


def test_wrong_way_imports_are_found():
    """The check itself, on imports that break the order (lazy and relative ones too)."""

    def problems(text: str, importer: str) -> list[str]:
        return wrong_way_imports({importer: imported(text, importer)})

    semantic = "from ebmspec.runtime.model.energy import lower_energy\n"
    assert problems(semantic, "ebmspec.semantic.checker") == [
        "ebmspec.semantic.checker:1 -> ebmspec.runtime.model.energy"
    ]
    lazy = "def f():\n    from ebmspec import cli, ir\n"
    assert problems(lazy, "ebmspec.runs") == ["ebmspec.runs:2 -> ebmspec.cli"]
    relative = "from ...api import compile_spec\n"
    assert problems(relative, "ebmspec.runtime.training.trainer") == [
        "ebmspec.runtime.training.trainer:1 -> ebmspec.api"
    ]
    backwards = "def f():\n    from ebmspec.runtime.evaluation import metrics\n"
    assert problems(backwards, "ebmspec.runtime.sampling.schedule") == [
        "ebmspec.runtime.sampling.schedule:2 -> ebmspec.runtime.evaluation.metrics"
        " (stage sampling imports the later evaluation)"
    ]
    assert problems("from ebmspec.ir import Program\n", "ebmspec.passes.x") == []
    assert problems("from ebmspec.runtime.model import energy\n", "ebmspec.runtime.data.x") == []


def test_nothing_outside_the_cli_reaches_into_it():
    """Benches and tests use the library (`api`, `runs`, `runtime`), not the CLI's internals;
    they may run the CLI through its `main`. The CLI's own tests (tests/cli/) may."""
    offenders = []
    sources = [*sorted((ROOT / "bench").glob("*.py")), *sorted((ROOT / "tests").rglob("*.py"))]
    for path in sources:
        if "cli" in path.relative_to(ROOT).parts[:2]:
            continue
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.ImportFrom) and (node.module or "").startswith("ebmspec.cli"):
                names = [a.name for a in node.names]
                if node.module != "ebmspec.cli" or names != ["main"]:
                    offenders.append(f"{path.relative_to(ROOT)}: {node.module} {names}")
    assert offenders == []


@pytest.mark.parametrize("layer", sorted(LAYERS))
def test_every_layer_names_a_module(layer):
    assert any(_rank(name, LAYERS, 1)[0] == layer for name in GRAPH)
