"""The typed, frozen intermediate representation of a checked spec, and its text dump.

In: built by `semantic.checker.check_program` from the AST. Out: consumed by the passes, the runtime
(`runtime.model.energy.lower_energy`) and codegen. Every node carries the `Span` of the spec text it
came from. `dump(node)` prints the golden-test format used by `ebmspec compile --emit ir`.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field, fields, is_dataclass
from typing import Any

from ebmspec.source import Span

# A setting value after checking: numbers, strings, booleans, None, identifiers (variable,
# sampler, activation names are plain strings) and tuples of those.
Value = Any


@dataclass(frozen=True)
class Call:
    """A named configuration call with every argument bound (defaults filled in)."""

    name: str
    args: tuple[tuple[str, Value], ...]
    span: Span
    # Where the written arguments are, for errors found later (a data file's missing column):
    # ("file", span of its value), ("columns", ...), ("columns[x = a..b]", span of that item).
    # Not part of the call's identity, nor of its dump (runtime/data/base.py's `Context` reads it).
    where: tuple[tuple[str, Span], ...] = field(default=(), compare=False, repr=False)

    def arg(self, key: str) -> Value:
        for name, value in self.args:
            if name == key:
                return value
        raise KeyError(f"{self.name} has no argument {key!r}")

    def with_arg(self, key: str, value: Value) -> Call:
        args = tuple((k, value if k == key else v) for k, v in self.args)
        return Call(self.name, args, self.span)


# ---- variables ---------------------------------------------------------------------------------


@dataclass(frozen=True)
class Variable:
    """A model variable. `shape` is the value shape; categoricals are one-hot on a last axis."""

    name: str
    kind: str  # "real" | "binary" | "categorical"
    shape: tuple[int, ...]
    categories: int | None
    low: float | None
    high: float | None
    observed: bool
    span: Span

    @property
    def discrete(self) -> bool:
        return self.kind != "real"

    @property
    def tensor_shape(self) -> tuple[int, ...]:
        """Shape of the tensor the energy sees per example (one-hot axis for categoricals)."""
        return self.shape + ((self.categories,) if self.kind == "categorical" else ())

    @property
    def sites(self) -> int:
        """Number of elements (sites) per example."""
        return math.prod(self.shape)

    @property
    def cardinality(self) -> int | None:
        """Number of joint values of a discrete variable (None for real)."""
        size = math.prod(self.shape)
        if self.kind == "binary":
            return 2**size
        if self.kind == "categorical":
            return self.categories**size
        return None

    def describe(self) -> str:
        dims = ", ".join(map(str, self.shape))
        if self.kind == "categorical":
            text = f"categorical({self.categories})" + (f"[{dims}]" if self.shape else "")
        else:
            text = f"{self.kind}[{dims}]"
        if self.low is not None:
            text += f" in [{self.low:g}, {self.high:g}]"
        return text


# ---- data --------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Transform:
    variable: str
    steps: tuple[Call, ...]
    span: Span


@dataclass(frozen=True)
class Dataset:
    source: Call
    transforms: tuple[Transform, ...]
    span: Span


# ---- energy ------------------------------------------------------------------------------------


@dataclass(frozen=True)
class ENode:
    """An energy-graph node; `shape` is per example (the batch axis is implicit)."""

    shape: tuple[int, ...]
    span: Span


@dataclass(frozen=True)
class Input(ENode):
    variable: str


@dataclass(frozen=True)
class Const(ENode):
    value: float


@dataclass(frozen=True)
class Param(ENode):
    """A use of a declared parameter or constant (`params { ... }`)."""

    name: str


@dataclass(frozen=True)
class Ref(ENode):
    """A use of an earlier `let` binding."""

    name: str


@dataclass(frozen=True)
class Op(ENode):
    """A building block applied to inputs. `module` names its parameters (None if it has none)."""

    op: str
    inputs: tuple[ENode, ...]
    attrs: tuple[tuple[str, Value], ...]
    module: str | None


@dataclass(frozen=True)
class Let:
    name: str
    value: ENode
    span: Span


@dataclass(frozen=True)
class Energy:
    lets: tuple[Let, ...]
    result: ENode
    span: Span


@dataclass(frozen=True)
class ParamDecl:
    """A tensor of the model: learned, or `fixed` (a constant). `init` is ("constant", number),
    ("values", nested tuple of numbers: a tensor literal) or ("normal", std)."""

    name: str
    shape: tuple[int, ...]
    init: tuple
    fixed: bool
    span: Span


# ---- samplers ----------------------------------------------------------------------------------


@dataclass(frozen=True)
class Init:
    variables: tuple[str, ...]
    dist: Call
    default: bool
    span: Span


@dataclass(frozen=True)
class Colouring:
    """Which sites of a `gibbs` block are drawn together (`passes.colouring`): sites of one
    colour do not interact through f, so they are independent given everything else.

    colours: one colour per site, over the block's variables' sites in order (row-major).
    draw:    "gradient": f is affine in every site's code, so one evaluation with gradients
             holds the exact conditionals of a whole colour; "enumerate": one batched forward
             over every (site, value) of the colour.
    found:   how the interactions were found ("structure"), or why every site is its own
             colour ("not analysed: ...").
    span:    the block's.
    """

    colours: tuple[int, ...]
    draw: str
    found: str
    span: Span

    @property
    def count(self) -> int:
        return max(self.colours) + 1 if self.colours else 0

    def describe(self) -> str:
        sizes = [self.colours.count(c) for c in range(self.count)]
        shown = ", ".join(map(str, sizes[:8])) + (", ..." if len(sizes) > 8 else "")
        return f"{self.count} colour(s) of {shown} site(s), drawn by {self.draw} ({self.found})"


@dataclass(frozen=True)
class Block:
    """One Metropolis-within-Gibbs block: a kernel updating `variables`, `repeats` times a sweep.
    `colouring`: a per-site `gibbs` block's colouring (filled by `passes.colouring`)."""

    kernel: Call
    variables: tuple[str, ...]
    repeats: int
    default: bool
    span: Span
    colouring: Colouring | None = None


@dataclass(frozen=True)
class Sampler:
    name: str
    inits: tuple[Init, ...]
    blocks: tuple[Block, ...]
    sweeps: int
    span: Span
    # Parallel tempering's inverse temperatures, 1 first (runtime/sampling/tempering.py); () none.
    temperatures: tuple[float, ...] = ()


# ---- training, evaluation, profiles ------------------------------------------------------------


@dataclass(frozen=True)
class Train:
    objective: Call
    optimizer: Call
    settings: tuple[tuple[str, Value], ...]
    span: Span

    def setting(self, key: str) -> Value:
        return dict(self.settings)[key]


@dataclass(frozen=True)
class Prediction:
    targets: tuple[str, ...]
    given: tuple[str, ...]
    methods: tuple[Call, ...]
    span: Span


@dataclass(frozen=True)
class Report:
    kind: str  # calibration | samples | ood | density | likelihood
    call: Call
    span: Span


@dataclass(frozen=True)
class Evaluate:
    predictions: tuple[Prediction, ...]
    reports: tuple[Report, ...]
    span: Span


@dataclass(frozen=True)
class Override:
    key: str
    value: Value
    span: Span


@dataclass(frozen=True)
class Profile:
    name: str
    overrides: tuple[Override, ...]
    span: Span


@dataclass(frozen=True)
class Program:
    name: str
    doc: str
    data: Dataset | None
    variables: tuple[Variable, ...]
    energy: Energy
    samplers: tuple[Sampler, ...]
    train: Train | None
    evaluate: Evaluate | None
    profiles: tuple[Profile, ...]
    span: Span
    params: tuple[ParamDecl, ...] = ()

    def variable(self, name: str) -> Variable:
        for variable in self.variables:
            if variable.name == name:
                return variable
        raise KeyError(name)

    def sampler(self, name: str) -> Sampler:
        for sampler in self.samplers:
            if sampler.name == name:
                return sampler
        raise KeyError(name)

    def __repr__(self) -> str:
        """One line naming the program and its variables (the generated repr of a whole program
        runs to thousands of characters); equality stays the dataclass's, field by field."""
        names = ", ".join(f"{v.name} {v.describe()}" for v in self.variables)
        return f"Program({self.name}: {names})"


# ---- dump --------------------------------------------------------------------------------------


def format_value(value: Value) -> str:
    """One-line text of a setting value; strings that are not plain names are quoted."""
    if isinstance(value, Call):  # a whole objective / optimizer set by a profile
        return format_call(value)
    if isinstance(value, tuple):
        return "[" + ", ".join(format_value(v) for v in value) + "]"
    if isinstance(value, str):
        plain = value and all(part.isidentifier() for part in value.split("."))
        return value if plain else repr(value)
    return repr(value)


def format_call(call: Call, skip_unset: bool = False) -> str:
    """`name(key=value, ...)`; `skip_unset` leaves out the arguments whose value is None."""
    args = (f"{k}={format_value(v)}" for k, v in call.args if not (skip_unset and v is None))
    return f"{call.name}({', '.join(args)})"


def dump(node: Any, indent: int = 0) -> str:
    """Indented text of any IR (or AST) node; spans print as `@line:col`. The golden format."""
    pad = "  " * indent
    if isinstance(node, Call):
        args = ", ".join(f"{k}={format_value(v)}" for k, v in node.args)
        return f"{pad}{node.name}({args}) @{node.span}"
    if isinstance(node, Span):
        return f"{pad}@{node}"
    if isinstance(node, Colouring):  # thousands of per-site colours: their summary
        return f"{pad}{node.describe()}"
    if not is_dataclass(node):
        return f"{pad}{format_value(node)}"
    head = f"{pad}{type(node).__name__}"
    names = [f.name for f in fields(node) if f.name != "span"]
    if len(names) == 1 and isinstance(getattr(node, names[0]), str | int | float):
        # Leaf nodes (identifiers, numbers, strings) print on one line.
        return f"{head}({getattr(node, names[0])!r}) @{node.span}"
    span = getattr(node, "span", None)
    if isinstance(span, Span):
        head += f" @{span}"
    lines = [head]
    for member in fields(node):
        if member.name == "span" or member.name.startswith("_"):
            continue
        value = getattr(node, member.name)
        if value is None or (value == () and member.name != "shape"):
            continue
        if is_dataclass(value) and not isinstance(value, Span):
            text = dump(value, indent + 2)
            if "\n" not in text:  # a leaf node stays on the field's line
                lines.append(f"{pad}  {member.name}: {text.strip()}")
                continue
            lines.append(f"{pad}  {member.name}:")
            lines.append(text)
        elif (
            isinstance(value, tuple)
            and value
            and all(is_dataclass(v) and not isinstance(v, Span) for v in value)
        ):
            lines.append(f"{pad}  {member.name}:")
            lines.extend(dump(v, indent + 2) for v in value)
        elif (
            isinstance(value, tuple)
            and value
            and all(isinstance(v, tuple) and len(v) == 2 and isinstance(v[0], str) for v in value)
        ):
            items = ", ".join(f"{k}={format_value(v)}" for k, v in value)
            lines.append(f"{pad}  {member.name}: {items}")
        else:
            lines.append(f"{pad}  {member.name}: {format_value(value)}")
    return "\n".join(lines)
