"""Parse `.ebm` text into the AST.

In: a `Source`. Out: `ast.Program`, or a `UserError` carrying exactly one syntax diagnostic (syntax
errors stop at the first; semantic errors are collected). The Lark grammar lives in
`grammars/ebm.lark`; Lark trees and tokens are converted here and never leave this package.
"""

from __future__ import annotations

import functools

from lark import Lark, Token, Transformer, v_args
from lark.exceptions import UnexpectedInput, VisitError

from ebmspec.diagnostics import Diagnostic, UserError
from ebmspec.frontend import ast
from ebmspec.frontend.syntax_errors import syntax_diagnostic
from ebmspec.resources import resource_dir
from ebmspec.source import Source


@functools.cache
def grammar_parser() -> Lark:
    text = (resource_dir("grammars") / "ebm.lark").read_text(encoding="utf-8")
    return Lark(
        text,
        start=["program", "assignment"],
        parser="lalr",
        lexer="contextual",
        propagate_positions=True,
        maybe_placeholders=True,
    )


def _parse(source: Source, start: str):
    parser = grammar_parser()
    try:
        tree = parser.parse(source.text, start=start)
    except UnexpectedInput as error:
        raise UserError(source, [syntax_diagnostic(source, error, parser)]) from None
    try:
        return _ToAst(source).transform(tree)
    except VisitError as error:
        if isinstance(error.orig_exc, UserError):
            raise error.orig_exc from None
        raise


def parse_source(source: Source) -> ast.Program:
    """Parse a whole spec; raise `UserError` with one located diagnostic on a syntax error."""
    return _parse(source, "program")


def parse_assignment(source: Source) -> ast.Assignment:
    """Parse one `key.path = value` (a `--set` argument); `UserError` on a syntax error."""
    return _parse(source, "assignment")


def _children(items: list) -> list:
    """Drop the None placeholders that `[...]` optionals leave behind."""
    return [item for item in items if item is not None]


@v_args(meta=True)
class _ToAst(Transformer):
    """One method per grammar rule; each returns the AST class of the same name."""

    def __init__(self, source: Source):
        super().__init__()
        self.source = source

    def _span(self, meta, children=()):
        if not getattr(meta, "empty", True):
            return self.source.span(meta.start_pos, meta.end_pos)
        spans = [c.span for c in children if hasattr(c, "span")]
        if spans:
            return functools.reduce(lambda a, b: a.to(b), spans)
        return self.source.span(0, 0)

    def _ident(self, token: Token) -> ast.Ident:
        return ast.Ident(self.source.span(token.start_pos, token.end_pos), str(token))

    def __default_token__(self, token: Token):
        if token.type == "STRING":
            return ast.String(self.source.span(token.start_pos, token.end_pos), _unquote(token))
        if token.type == "NUMBER":
            return ast.Number(self.source.span(token.start_pos, token.end_pos), str(token))
        return self._ident(token)

    # ---- top level ----
    def program(self, meta, items):
        header, *rest = items
        return ast.Program(self._span(meta, items), header, tuple(rest))

    def model_header(self, meta, items):
        name, doc = (items + [None])[:2]
        return ast.ModelHeader(self._span(meta, items), name, doc)

    def data_decl(self, meta, items):
        name, *rest = _children(items)
        args = rest[0] if rest and isinstance(rest[0], ast.CallArgs) else None
        transforms = tuple(r for r in rest if isinstance(r, ast.TransformClause))
        return ast.DataDecl(self._span(meta, items), name, args, transforms)

    def transform_clause(self, meta, items):
        variable, *funcs = items
        return ast.TransformClause(self._span(meta, items), variable, tuple(funcs))

    def variables_block(self, meta, items):
        return ast.VariablesBlock(self._span(meta, items), tuple(_children(items)))

    def var_decl(self, meta, items):
        items = _children(items)
        name, domain, *rest = items
        bounds = next((r for r in rest if isinstance(r, ast.Bounds)), None)
        latent = any(r == "latent" for r in rest)
        return ast.VarDecl(self._span(meta, items), name, domain, bounds, latent)

    def domain(self, meta, items):
        kind, *rest = _children(items)
        arg = next((r for r in rest if isinstance(r, ast.Number)), None)
        shape = next((r for r in rest if isinstance(r, ast.Shape)), None)
        return ast.Domain(self._span(meta, items), kind, arg, shape)

    def domain_args(self, meta, items):
        return items[0]

    def shape(self, meta, items):
        return ast.Shape(self._span(meta, items), tuple(items))

    def bounds(self, meta, items):
        return ast.Bounds(self._span(meta, items), items[0], items[1])

    def latent(self, meta, items):
        return "latent"

    def params_block(self, meta, items):
        return ast.ParamsBlock(self._span(meta, items), tuple(_children(items)))

    def param_decl(self, meta, items):
        items = _children(items)
        name, *rest = items
        shape = next((r for r in rest if isinstance(r, ast.Shape)), None)
        value = next(r for r in rest if not isinstance(r, ast.Shape) and r != "fixed")
        return ast.ParamDecl(self._span(meta, items), name, shape, value, "fixed" in rest)

    def fixed(self, meta, items):
        return "fixed"

    def function_def(self, meta, items):
        keyword, name, *rest = _children(items)
        if keyword.text != "def":
            raise UserError(
                self.source,
                [
                    Diagnostic(
                        "E009",
                        f"unexpected `{name.text}` after `{keyword.text}`",
                        keyword.span,
                        "a binding is `name = expression`; a function is "
                        "`def name(a, b) = expression`",
                    )
                ],
            )
        return ast.FunctionDef(self._span(meta, items), name, tuple(rest[:-1]), rest[-1])

    def energy_block(self, meta, items):
        return ast.EnergyBlock(self._span(meta, items), tuple(_children(items)))

    def binding(self, meta, items):
        return ast.Binding(self._span(meta, items), items[0], items[1])

    def return_stmt(self, meta, items):
        return ast.ReturnStmt(self._span(meta, items), items[0])

    def sampler_block(self, meta, items):
        name, *stmts = _children(items)
        return ast.SamplerBlock(self._span(meta, items), name, tuple(stmts))

    def init_stmt(self, meta, items):
        return ast.InitStmt(self._span(meta, items), items[0], items[1])

    def update_stmt(self, meta, items):
        names, kernel, repeat = (items + [None])[:3]
        return ast.UpdateStmt(self._span(meta, items), names, kernel, repeat)

    def repeat(self, meta, items):
        return items[0]

    def setting(self, meta, items):
        return ast.Setting(self._span(meta, items), items[0], items[1])

    def train_block(self, meta, items):
        return ast.TrainBlock(self._span(meta, items), tuple(_children(items)))

    def evaluate_block(self, meta, items):
        return ast.EvaluateBlock(self._span(meta, items), tuple(_children(items)))

    def predict_stmt(self, meta, items):
        targets, given, *methods = items
        return ast.PredictStmt(self._span(meta, items), targets, given, tuple(methods))

    def report_stmt(self, meta, items):
        return ast.ReportStmt(self._span(meta, items), items[0], items[1])

    def profile_block(self, meta, items):
        name, *assignments = _children(items)
        return ast.ProfileBlock(self._span(meta, items), name, tuple(assignments))

    def assignment(self, meta, items):
        return ast.Assignment(self._span(meta, items), items[0], items[1])

    def dotted_name(self, meta, items):
        return ast.DottedName(self._span(meta, items), tuple(items))

    # ---- shared ----
    def name_list(self, meta, items):
        return ast.NameList(self._span(meta, items), tuple(items))

    def func(self, meta, items):
        name, args = (items + [None])[:2]
        return ast.Func(self._span(meta, items), name, args)

    def call_args(self, meta, items):
        return ast.CallArgs(self._span(meta, items), tuple(_children(items)))

    func_args = call_args  # the same syntax and AST node (the grammar says why two rules)

    def keyword_arg(self, meta, items):
        return ast.KeywordArg(self._span(meta, items), items[0], items[1])

    # ---- expressions ----
    def number(self, meta, items):
        return items[0]

    def string(self, meta, items):
        return items[0]

    def name(self, meta, items):
        return ast.Name(items[0].span, items[0])

    def call(self, meta, items):
        return ast.Call(self._span(meta, items), items[0], items[1])

    def list(self, meta, items):
        return ast.List(self._span(meta, items), tuple(_children(items)))

    def neg(self, meta, items):
        return ast.Neg(self._span(meta, items), items[0])

    def index(self, meta, items):
        base, *subscripts = items
        if len(subscripts) == 1 and not isinstance(subscripts[0], ast.Slice):
            return ast.Index(self._span(meta, items), base, subscripts[0])
        return ast.Subscript(self._span(meta, items), base, tuple(subscripts))

    def slice(self, meta, items):
        start, stop, step = (list(items) + [None, None, None])[:3]
        return ast.Slice(self._span(meta, [i for i in items if i is not None]), start, stop, step)

    def add(self, meta, items):
        return ast.Add(self._span(meta, items), items[0], items[1])

    def sub(self, meta, items):
        return ast.Sub(self._span(meta, items), items[0], items[1])

    def pow(self, meta, items):
        return ast.Pow(self._span(meta, items), items[0], items[1])

    def mul(self, meta, items):
        return ast.Mul(self._span(meta, items), items[0], items[1])

    def div(self, meta, items):
        return ast.Div(self._span(meta, items), items[0], items[1])


_ESCAPES = {"n": "\n", "t": "\t", '"': '"', "\\": "\\"}


def _unquote(token: Token) -> str:
    """Decode a double-quoted string literal by hand (no eval, not even literal_eval)."""
    body, out, i = str(token)[1:-1], [], 0
    while i < len(body):
        if body[i] == "\\" and i + 1 < len(body):
            out.append(_ESCAPES.get(body[i + 1], body[i + 1]))
            i += 2
        else:
            out.append(body[i])
            i += 1
    return "".join(out)


__all__ = ["grammar_parser", "parse_assignment", "parse_source"]
