"""Emit the standalone Python module for a program (see `ebmspec.codegen`)."""

from __future__ import annotations

import functools
import importlib
import textwrap
from dataclasses import dataclass
from pathlib import Path

import jinja2

import ebmspec
from ebmspec import ir
from ebmspec.passes import plan_cache
from ebmspec.resources import resource_dir
from ebmspec.runtime.model import energy as energy_runtime
from ebmspec.runtime.model import ops
from ebmspec.runtime.model.blocks import BLOCK_FILES
from ebmspec.runtime.sampling import sampler as sampling
from ebmspec.runtime.sampling.kernels import KERNEL_FILES

_MARKER = "# --- begin standalone ---\n"


@functools.cache
def environment() -> jinja2.Environment:
    env = jinja2.Environment(
        loader=jinja2.FileSystemLoader(str(resource_dir("templates"))),
        undefined=jinja2.StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
        keep_trailing_newline=True,
        autoescape=False,
    )
    # Every spec-derived literal goes through repr(): the only way spec text enters the output.
    env.filters["pyrepr"] = _literal
    env.globals["assignment"] = _assignment
    return env


def _literal(value) -> str:
    """Python source for a constant, quoted the way `ruff format` would write it."""
    if isinstance(value, tuple) and hasattr(value, "_fields"):  # a NamedTuple: its constructor
        return f"{type(value).__name__}({', '.join(_literal(v) for v in value)})"
    if isinstance(value, tuple):
        items = [_literal(v) for v in value]
        return f"({items[0]},)" if len(items) == 1 else "(" + ", ".join(items) + ")"
    if isinstance(value, list):
        return "[" + ", ".join(_literal(v) for v in value) + "]"
    if isinstance(value, dict):
        return "{" + ", ".join(f"{_literal(k)}: {_literal(v)}" for k, v in value.items()) + "}"
    if isinstance(value, str):
        # ruff format's rule: double quotes unless the text holds more " than '.
        quote = "'" if value.count('"') > value.count("'") else '"'
        body = value.encode("unicode_escape").decode("ascii").replace(quote, "\\" + quote)
        return quote + body + quote
    if value is None or isinstance(value, bool | int | float):
        return repr(value)
    raise TypeError(f"cannot emit a literal of type {type(value).__name__}")


def _assignment(name: str, value) -> str:
    """`NAME = <literal>`; a long string becomes a parenthesised implicit concatenation so the
    emitted module stays within 100 columns whatever the spec's doc string or file names hold."""
    line = f"{name} = {_literal(value)}"
    if len(line) <= 100 or not isinstance(value, str):
        return line
    pieces, current = [], ""
    for char in value:
        if current and len(_literal(current + char)) > 90:
            pieces.append(current)
            current = ""
        current += char
    pieces.append(current)
    body = "\n".join(f"    {_literal(piece)}" for piece in pieces)
    return f"{name} = (\n{body}\n)"


def _layout(value, indent: int = 0, head: str = "", tail: str = "", explode: int = 0) -> list[str]:
    """Lines of `head + literal + tail` indented by `indent`, split the way `ruff format` splits
    a collection: kept on one line when it fits in 100 columns, else one item a line with a
    trailing comma. The outer `explode` levels are split even when they fit (their trailing
    commas keep `ruff format` from joining them again)."""
    pad = " " * indent
    flat = f"{pad}{head}{_literal(value)}{tail}"
    collection = isinstance(value, tuple | list | dict) and len(value) > 0
    if not collection or (explode <= 0 and len(flat) <= 100):
        return [flat]
    opening, closing = {tuple: "()", list: "[]", dict: "{}"}[type(value)]
    lines = [f"{pad}{head}{opening}"]
    for key, item in value.items() if isinstance(value, dict) else enumerate(value):
        label = f"{_literal(key)}: " if isinstance(value, dict) else ""
        lines.extend(_layout(item, indent + 4, label, ",", explode - 1))
    lines.append(f"{pad}{closing}{tail}")
    return lines


def _standalone(module) -> str:
    """The torch-only body of a runtime module: everything below its standalone marker."""
    text = Path(module.__file__).read_text(encoding="utf-8")
    return text.split(_MARKER, 1)[1].strip("\n")


def standalone_layers() -> str:
    """The torch-only bodies of runtime/model/ops.py and of every energy block's module (in
    `BLOCK_FILES` order), copied into every emitted module."""
    modules = [ops]
    modules += [importlib.import_module(f"ebmspec.runtime.model.blocks.{n}") for n in BLOCK_FILES]
    return "\n\n\n".join(_standalone(module) for module in modules)


def standalone_run_files() -> str:
    """The torch-only body of runtime/io/reader.py (the safetensors reader, checkpoint
    statistics), copied into every emitted module."""
    return _standalone(importlib.import_module("ebmspec.runtime.io.reader"))


def standalone_sampling() -> str:
    """The torch-only bodies of the kernels (in `KERNEL_FILES` order: each after what it uses),
    of runtime/sampling/tempering.py and of runtime/sampling/schedule.py, copied into every
    emitted module so that it samples with the very code `ebmspec sample` runs."""
    modules = [
        importlib.import_module(f"ebmspec.runtime.sampling.kernels.{n}") for n in KERNEL_FILES
    ]
    modules.append(importlib.import_module("ebmspec.runtime.sampling.tempering"))
    modules.append(importlib.import_module("ebmspec.runtime.sampling.schedule"))
    return "\n\n\n".join(_standalone(module) for module in modules)


def samplers_assignment(program: ir.Program) -> str:
    """`SAMPLERS = {name: sampler_table}` for every sampler of the program, ruff-formatted."""
    tables = {s.name: sampling.sampler_table(s) for s in program.samplers}
    return "\n".join(_layout(tables, head="SAMPLERS = ", explode=3))


@dataclass(frozen=True)
class _Line:
    local: str
    expr: str


class _Writer:
    """Writes the energy graph as straight-line code: one statement per block call, in the same
    post-order the in-process interpreter evaluates it, over prefixed locals (`v_`, `l_`, `t`).

    For a split energy (`passes.plan_cache`), `roots` maps the id of each root node to the local
    holding its value and `shares` the id of each MLP with a folded first layer to (local of the
    share, the `Share`): the head then reads them as the in-process `EnergySplit` does."""

    def __init__(self, roots: dict | None = None, shares: dict | None = None) -> None:
        self.inputs: dict[str, str] = {}
        self.lines: list[_Line] = []
        self.temporaries = 0
        self.roots = roots or {}
        self.shares = shares or {}

    def let(self, name: str, node: ir.ENode) -> None:
        self.lines.append(_Line(f"l_{name}", self._call(node)))

    def result(self, node: ir.ENode) -> str:
        if id(node) in self.roots:
            return self.roots[id(node)]
        return self._call(node)

    def _call(self, node: ir.ENode) -> str:
        if id(node) in self.shares:
            local, share = self.shares[id(node)]
            block = f"self.blocks[{_literal(node.module)}]"
            free = self._joined(share.free)
            columns = _columns(share.free_columns)
            added = self._temporary(f"{block}.share({free}, {columns}, bias=False)")
            return f"{block}.tail({local} + {added})"
        if not isinstance(node, ir.Op):
            return self.operand(node)
        args = ", ".join(self.operand(child) for child in node.inputs)
        if node.module is not None:
            return f"self.blocks[{_literal(node.module)}]({args})"
        attrs = "".join(f", {k}={_literal(v)}" for k, v in node.attrs)
        return f"op_{node.op}({args}{attrs})"

    def _joined(self, parts) -> str:
        """One operand for the concatenation of `parts` (the part itself when there is one)."""
        if len(parts) == 1:
            return self.operand(parts[0])
        return self._temporary(f"op_concat({', '.join(self.operand(p) for p in parts)})")

    def share(self, share: plan_cache.Share) -> str:
        """The expression of a folded first layer's held share."""
        block = f"self.blocks[{_literal(share.mlp.module)}]"
        return f"{block}.share({self._joined(share.parts)}, {_columns(share.columns)})"

    def operand(self, node: ir.ENode) -> str:
        if id(node) in self.roots:
            return self.roots[id(node)]
        if isinstance(node, ir.Input):
            return self.inputs.setdefault(node.variable, f"v_{node.variable}")
        if isinstance(node, ir.Const):
            return _literal(node.value)
        if isinstance(node, ir.Ref):
            return f"l_{node.name}"
        if isinstance(node, ir.Param):
            return f"self.params.get({_literal(node.name)}, batch)"
        return self._temporary(self._call(node))  # children first: temporaries in order

    def _temporary(self, expr: str) -> str:
        local = f"t{self.temporaries}"
        self.temporaries += 1
        self.lines.append(_Line(local, expr))
        return local


def _columns(columns) -> str:
    """Source for an increasing column sequence: `range(a, b)` runs, unpacked when several."""
    runs, start = [], columns[0]
    for previous, current in zip(columns, columns[1:], strict=False):
        if current != previous + 1:
            runs.append((start, previous + 1))
            start = current
    runs.append((start, columns[-1] + 1))
    text = [f"range({b})" if a == 0 else f"range({a}, {b})" for a, b in runs]
    if len(runs) == 1:
        return text[0]
    return "(" + ", ".join(f"*{t}" for t in text) + ")"


@dataclass(frozen=True)
class _Split:
    """One split of the emitted energy: method suffix, moving variables, both method bodies."""

    index: int
    moving: tuple[str, ...]
    doc: list[str]
    static_inputs: list
    static_lines: list
    static_batch: bool
    statics: str
    head_inputs: list
    head_lines: list
    head_result: str


def _splits(program: ir.Program) -> list[_Split]:
    """The energy's splits for the moves the samplers can make (`passes.plan_cache`)."""
    splits = []
    for moving, plan in plan_cache.plan_caches(program).items():
        roots, shares = {}, {}
        statics = _Writer()
        for let in program.energy.lets:
            if let.name in plan.static_lets:
                statics.let(let.name, let.value)
        locals_ = []
        for index, root in enumerate(plan.roots):
            local = f"s{index}"
            locals_.append(local)
            if isinstance(root, plan_cache.Share):
                statics.lines.append(_Line(local, statics.share(root)))
                shares[id(root.mlp)] = (local, root)
            else:
                statics.lines.append(_Line(local, statics.operand(root)))
                roots[id(root)] = local
        head = _Writer(roots, shares)
        for let in program.energy.lets:
            if let.name in plan.head_lets:
                head.let(let.name, let.value)
        result = head.result(program.energy.result)
        splits.append(
            _Split(
                index=len(splits),
                moving=moving,
                doc=textwrap.wrap(
                    f"Moves of {', '.join(moving)} leave alone: {'; '.join(plan.describe())}.",
                    width=84,
                ),
                static_inputs=sorted(statics.inputs.items()),
                static_lines=statics.lines,
                static_batch=any("batch)" in line.expr for line in statics.lines),
                statics="(" + ", ".join(locals_) + ("," if len(locals_) == 1 else "") + ")",
                head_inputs=sorted(head.inputs.items()),
                head_lines=head.lines,
                head_result=result,
            )
        )
    return splits


def _param_lines(decl: ir.ParamDecl) -> list[str]:
    """`self.params.add(name, shape, init, value, fixed)`, split as `ruff format` would when
    it passes 100 columns inside `__init__` (8 columns in)."""
    args = (decl.name, list(decl.shape), decl.init[0], decl.init[1], decl.fixed)
    flat = f"self.params.add({', '.join(_literal(a) for a in args)})"
    if len(flat) + 8 <= 100:
        return [flat]
    lines = ["self.params.add("]
    for arg in args:
        lines += [line[8:] for line in _layout(arg, 12, tail=",")]
    return [*lines, ")"]


def _constructor(key: str, class_name: str, kwargs: dict) -> list[str]:
    """`self.blocks[key] = Class(...)`, one keyword per line when it would not fit in 100."""
    head = f"self.blocks[{_literal(key)}] = {class_name}("
    args = [f"{k}={_literal(v)}" for k, v in kwargs.items()]
    if len(head) + len(", ".join(args)) + 9 <= 100:
        return [head + ", ".join(args) + ")"]
    return [head, *(f"    {a}," for a in args), ")"]


def emit_python(program: ir.Program, spec_name: str = "") -> str:
    splits = _splits(program)
    writer = _Writer()
    for let in program.energy.lets:
        writer.let(let.name, let.value)
    result = writer.result(program.energy.result)
    modules = [line for d in program.params for line in _param_lines(d)]
    for node in energy_runtime.parametric_ops(program.energy):
        class_name, kwargs = energy_runtime.module_spec(node)
        modules.extend(_constructor(node.module, class_name, kwargs))
    template = environment().get_template("model.py.jinja")
    return template.render(
        version=ebmspec.__version__,
        name=program.name,
        doc=program.doc,
        spec_name=spec_name,
        layers=standalone_layers(),
        run_files=standalone_run_files(),
        clamping=_standalone(importlib.import_module("ebmspec.runtime.sampling.clamping")),
        sampling=standalone_sampling(),
        samplers=samplers_assignment(program),
        default_sampler=sampling.default_sampler(program),
        variables=[
            (v.name, energy_runtime.variable_table(program)[v.name]) for v in program.variables
        ],
        modules=modules,
        inputs=sorted(writer.inputs.items()),
        lets=writer.lines,
        result=result,
        splits=splits,
        splits_table="\n".join(
            _layout({split.moving: split.index for split in splits}, head="SPLITS = ", explode=1)
        ),
    )
