"""AST of the .ebm language: one frozen dataclass per grammar rule (`var_decl` <-> `VarDecl`).

In: built by `frontend.parser` from the Lark tree. Out: consumed by `semantic.checker`. Every node
carries the `Span` of the text it came from; no Lark object is reachable from here.
"""

from __future__ import annotations

from dataclasses import dataclass

from ebmspec.source import Span


@dataclass(frozen=True)
class Node:
    span: Span


@dataclass(frozen=True)
class Ident(Node):
    """A NAME token."""

    text: str


# ---- expressions -------------------------------------------------------------------------------


@dataclass(frozen=True)
class Expr(Node):
    pass


@dataclass(frozen=True)
class Number(Expr):
    text: str

    @property
    def value(self) -> float | int:
        return int(self.text) if self.text.isdigit() else float(self.text)


@dataclass(frozen=True)
class String(Expr):
    value: str


@dataclass(frozen=True)
class Name(Expr):
    ident: Ident


@dataclass(frozen=True)
class KeywordArg(Node):
    name: Ident
    value: Expr


@dataclass(frozen=True)
class CallArgs(Node):
    items: tuple[Expr | KeywordArg, ...]


@dataclass(frozen=True)
class Call(Expr):
    func: Ident
    args: CallArgs


@dataclass(frozen=True)
class List(Expr):
    items: tuple[Expr, ...]


@dataclass(frozen=True)
class BinOp(Expr):
    left: Expr
    right: Expr

    symbol = "?"


@dataclass(frozen=True)
class Add(BinOp):
    symbol = "+"


@dataclass(frozen=True)
class Sub(BinOp):
    symbol = "-"


@dataclass(frozen=True)
class Mul(BinOp):
    symbol = "*"


@dataclass(frozen=True)
class Div(BinOp):
    symbol = "/"


@dataclass(frozen=True)
class Pow(BinOp):
    symbol = "**"


@dataclass(frozen=True)
class Neg(Expr):
    operand: Expr


@dataclass(frozen=True)
class Index(Expr):
    base: Expr
    index: Expr


@dataclass(frozen=True)
class Slice(Expr):
    """`start:stop:step` inside `[...]`; each part None when left out."""

    start: Expr | None
    stop: Expr | None
    step: Expr | None


@dataclass(frozen=True)
class Subscript(Expr):
    """`base[i, j:k, ...]`: several items, or any slice (one plain expression is an `Index`)."""

    base: Expr
    items: tuple[Expr, ...]


# ---- shared statements -------------------------------------------------------------------------


@dataclass(frozen=True)
class Func(Node):
    """`name(args)` in statement position: a dataset, transform, kernel, init distribution, ..."""

    name: Ident
    args: CallArgs | None


@dataclass(frozen=True)
class NameList(Node):
    names: tuple[Ident, ...]


@dataclass(frozen=True)
class Setting(Node):
    name: Ident
    value: Expr


# ---- top level ---------------------------------------------------------------------------------


@dataclass(frozen=True)
class ModelHeader(Node):
    name: Ident
    doc: String | None


@dataclass(frozen=True)
class TransformClause(Node):
    variable: Ident
    funcs: tuple[Func, ...]


@dataclass(frozen=True)
class DataDecl(Node):
    name: Ident
    args: CallArgs | None
    transforms: tuple[TransformClause, ...]


@dataclass(frozen=True)
class Shape(Node):
    dims: tuple[Number, ...]


@dataclass(frozen=True)
class Domain(Node):
    kind: Ident
    arg: Number | None
    shape: Shape | None


@dataclass(frozen=True)
class Bounds(Node):
    low: Expr
    high: Expr


@dataclass(frozen=True)
class VarDecl(Node):
    name: Ident
    domain: Domain
    bounds: Bounds | None
    latent: bool


@dataclass(frozen=True)
class VariablesBlock(Node):
    decls: tuple[VarDecl, ...]


@dataclass(frozen=True)
class ParamDecl(Node):
    name: Ident
    shape: Shape | None
    value: Expr
    fixed: bool


@dataclass(frozen=True)
class ParamsBlock(Node):
    decls: tuple[ParamDecl, ...]


@dataclass(frozen=True)
class Binding(Node):
    name: Ident
    value: Expr


@dataclass(frozen=True)
class FunctionDef(Node):
    name: Ident
    params: tuple[Ident, ...]
    body: Expr


@dataclass(frozen=True)
class ReturnStmt(Node):
    value: Expr


@dataclass(frozen=True)
class EnergyBlock(Node):
    stmts: tuple[Binding | ReturnStmt | FunctionDef, ...]


@dataclass(frozen=True)
class InitStmt(Node):
    names: NameList
    dist: Func


@dataclass(frozen=True)
class UpdateStmt(Node):
    names: NameList
    kernel: Func
    repeat: Number | None


@dataclass(frozen=True)
class SamplerBlock(Node):
    name: Ident
    stmts: tuple[InitStmt | UpdateStmt | Setting, ...]


@dataclass(frozen=True)
class TrainBlock(Node):
    settings: tuple[Setting, ...]


@dataclass(frozen=True)
class PredictStmt(Node):
    targets: NameList
    given: NameList
    methods: tuple[Func, ...]


@dataclass(frozen=True)
class ReportStmt(Node):
    kind: Ident
    func: Func


@dataclass(frozen=True)
class EvaluateBlock(Node):
    stmts: tuple[PredictStmt | ReportStmt, ...]


@dataclass(frozen=True)
class DottedName(Node):
    parts: tuple[Ident, ...]

    @property
    def text(self) -> str:
        return ".".join(p.text for p in self.parts)


@dataclass(frozen=True)
class Assignment(Node):
    key: DottedName
    value: Expr


@dataclass(frozen=True)
class ProfileBlock(Node):
    name: Ident
    assignments: tuple[Assignment, ...]


Item = (
    DataDecl
    | VariablesBlock
    | ParamsBlock
    | EnergyBlock
    | SamplerBlock
    | TrainBlock
    | EvaluateBlock
    | ProfileBlock
)


@dataclass(frozen=True)
class Program(Node):
    header: ModelHeader
    items: tuple[Item, ...]
