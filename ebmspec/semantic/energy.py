"""Check the energy block: names, building blocks, arguments and shapes.

In: `ast.EnergyBlock` and the declared variables. Out: `ir.Energy`, a let-list of typed
`ENode`s with per-example shapes, where every parametric block is named after its binding
(`h = cnn(...)` owns parameters `h`; blocks in the return expression belong to `return`; several
blocks in one binding get `h_mlp`, `h_mlp_2`, ...). Shape errors say what was expected and what
was found (E3xx).
"""

from __future__ import annotations

from collections import Counter

from ebmspec import ir
from ebmspec.frontend import ast
from ebmspec.semantic.functions import FunctionChecks
from ebmspec.semantic.indexing import IndexChecks
from ebmspec.semantic.params import tensor_literal
from ebmspec.semantic.registry import ACTIVATIONS, ENERGY_BLOCKS, Param
from ebmspec.semantic.shapes import fmt_shape
from ebmspec.semantic.values import INVALID, Scope, bind_args, fold_number, suggest
from ebmspec.source import Span


def _parametric(name: str) -> bool:
    """Does a call of `name` own parameters (an unknown name does not)?"""
    row = ENERGY_BLOCKS.get(name)
    return row is not None and row.extra["parametric"]


def _parametric_calls(expr: ast.Node) -> list[str]:
    """Names of parametric blocks called inside an expression, in source order."""
    found: list[str] = []

    def walk(node) -> None:
        if isinstance(node, ast.Call) and _parametric(node.func.text):
            found.append(node.func.text)
        if hasattr(node, "__dataclass_fields__"):
            for name in node.__dataclass_fields__:
                child = getattr(node, name)
                for item in child if isinstance(child, tuple) else (child,):
                    if isinstance(item, ast.Node):
                        walk(item)

    walk(expr)
    return found


class EnergyChecker(IndexChecks, FunctionChecks):
    def __init__(self, scope: Scope):
        self.scope = scope
        self.sink = scope.sink
        self.lets: dict[str, ir.Let] = {}
        self._prefix = ""
        self._names: list[str] = []
        # Bindings already reported as wrong: later uses stay silent instead of cascading E101s.
        self._failed: set[str] = set()
        self.functions: dict[str, ast.FunctionDef] = {}
        self._locals: dict[str, ir.ENode] = {}  # a function's parameters while its body is read
        self._calling: list[str] = []  # the functions being expanded, innermost last
        self._call_spans: list = []  # and the spans of their calls
        self._instances: dict[str, tuple] = {}  # a shared block's first Op and call span

    # ---- statements ----
    def check(self, block: ast.EnergyBlock) -> ir.Energy | None:
        result: ir.ENode | None = None
        returns = [s for s in block.stmts if isinstance(s, ast.ReturnStmt)]
        if not returns:
            self.sink.error(
                "E304",
                "the energy block has no `return` statement",
                block.span,
                "end the block with `return <expression>`, the scalar energy f",
            )
        for extra in returns[1:]:
            self.sink.error(
                "E304",
                "the energy block returns more than once",
                extra.span,
                "keep one `return`; add energies with `+`",
            )
        if returns:
            self._failed.update(
                s.name.text
                for s in block.stmts
                if isinstance(s, ast.Binding) and s.span.start > returns[0].span.start
            )
        ok = True
        for stmt in block.stmts:
            if isinstance(stmt, ast.ReturnStmt) and stmt is not returns[0]:
                continue
            if (
                isinstance(stmt, ast.Binding)
                and returns
                and stmt.span.start > returns[0].span.start
            ):
                self.sink.error(
                    "E304",
                    f"binding `{stmt.name.text}` comes after `return`",
                    stmt.span,
                    "move it above the `return` statement",
                )
                ok = False
                continue
            if isinstance(stmt, ast.FunctionDef):
                if not self._define(stmt):
                    self._failed.add(stmt.name.text)
                    ok = False
                continue
            if isinstance(stmt, ast.Binding):
                bound = self._binding(stmt)
                if not bound:
                    self._failed.add(stmt.name.text)
                ok &= bound
            else:
                result = self._return(stmt)
        if result is None or not ok:
            return None
        return ir.Energy(tuple(self.lets.values()), result, block.span)

    def _binding(self, stmt: ast.Binding) -> bool:
        name = stmt.name.text
        taken = (
            (self.scope.variables, "the variable declared"),
            (self.functions, "the function defined"),
            (self.scope.params, "the parameter declared"),
        )
        for names, what in taken:
            if name in names:
                self.sink.error(
                    "E102",
                    f"binding `{name}` shadows {what} at line {names[name].span.line}",
                    stmt.name.span,
                    "choose another name",
                )
                return False
        if name in self.lets:
            first = self.lets[name].span
            self.sink.error(
                "E102",
                f"`{name}` is already bound at line {first.line}",
                stmt.name.span,
                "bindings are immutable; choose another name",
            )
            return False
        node = self._statement(name, stmt.value)
        if node is None:
            return False
        self.lets[name] = ir.Let(name, node, stmt.span)
        return True

    def _return(self, stmt: ast.ReturnStmt) -> ir.ENode | None:
        node = self._statement("return", stmt.value)
        if node is None:
            return None
        if node.shape not in ((), (1,)):
            self.sink.error(
                "E302",
                f"the energy must be a scalar per example, found shape {fmt_shape(node.shape)}",
                stmt.value.span,
                "index it with a categorical (`logits[y]`), or reduce it with "
                "`sum(...)` or `logsumexp(...)`",
            )
            return None
        return node

    def _statement(self, prefix: str, expr: ast.Expr) -> ir.ENode | None:
        self._prefix = prefix
        self._names = self._block_names(prefix, expr)
        return self.expr(expr)

    @staticmethod
    def _block_names(prefix: str, expr: ast.Expr) -> list[str]:
        """The parameter names of the parametric blocks called in `expr`, last first (they are
        popped in source order): `prefix` for one, `prefix_op`, `prefix_op_2`, ... for more."""
        calls = _parametric_calls(expr)
        if len(calls) <= 1:
            names = [prefix] * len(calls)
        else:
            counts: Counter[str] = Counter()
            names = []
            for op in calls:
                counts[op] += 1
                suffix = "" if counts[op] == 1 else f"_{counts[op]}"
                names.append(f"{prefix}_{op}{suffix}")
        names.reverse()
        return names

    # ---- expressions ----
    def expr(self, e: ast.Expr) -> ir.ENode | None:
        if isinstance(e, ast.Number):
            return ir.Const((), e.span, float(e.value))
        if isinstance(e, ast.Name):
            return self._name(e)
        if isinstance(e, ast.Neg):
            inner = self.expr(e.operand)
            return None if inner is None else ir.Op(inner.shape, e.span, "neg", (inner,), (), None)
        if isinstance(e, ast.BinOp):
            return self._binop(e)
        if isinstance(e, ast.Index | ast.Subscript):
            return self.indexed(e)
        if isinstance(e, ast.Call):
            return self._call(e)
        if isinstance(e, ast.List):
            return self._literal(e)
        self.sink.error(
            "E307",
            "expected a tensor expression, found a string",
            e.span,
            'strings are for settings such as `file = "..."`; tensors are variables, bindings, '
            "parameters, numbers (they broadcast), lists of numbers and block calls",
        )
        return None

    def _literal(self, e: ast.List) -> ir.ENode | None:
        """A tensor literal in an expression (`mean = [0, 0]`, `kernel = [[0, 1], [1, 0]]`): a
        fixed parameter of its own, named after its place in the spec."""
        literal = tensor_literal(self.scope, e)
        if literal is None:
            return None
        values, shape = literal
        name = f"literal@{e.span}"
        self.scope.params[name] = ir.ParamDecl(name, shape, ("values", values), True, e.span)
        return ir.Param(shape, e.span, name)

    def _name(self, e: ast.Name) -> ir.ENode | None:
        name = e.ident.text
        if name in self._locals:
            return self._locals[name]
        if name in self._failed or name in self.scope.broken:
            return None  # already reported where it was bound or declared
        if name in self.lets:
            return ir.Ref(self.lets[name].value.shape, e.span, name)
        if name in self.scope.params:
            return ir.Param(self.scope.params[name].shape, e.span, name)
        variable = self.scope.variables.get(name)
        if variable is None:
            known = list(self.scope.variables) + list(self.scope.params) + list(self.lets)
            hint = (
                f"`{name}` is an activation; call it: `{name}(...)`, or pass `act = {name}`"
                if name in ACTIVATIONS
                else f"declared variables: {', '.join(self.scope.variables) or '(none)'}"
                + (f"; bindings so far: {', '.join(self.lets)}" if self.lets else "")
            )
            self.sink.error("E101", f"unknown name `{name}`{suggest(name, known)}", e.span, hint)
            return None
        if variable.kind == "categorical":
            self.sink.error(
                "E303",
                f"categorical variable `{name}` cannot be used as a number",
                e.span,
                f"encode it: `onehot({name})` or `embedding({name}, dim = 16)`,"
                f" or index a score vector with it: `logits[{name}]`",
            )
            return None
        return ir.Input(variable.tensor_shape, e.span, name)

    def _binop(self, e: ast.BinOp) -> ir.ENode | None:
        left, right = self.expr(e.left), self.expr(e.right)
        if left is None or right is None:
            return None
        op = {"+": "add", "-": "sub", "*": "mul", "/": "div", "**": "pow"}[e.symbol]
        if op == "div" and right.shape != ():
            self.sink.error(
                "E301",
                f"can only divide by a scalar, found shape {fmt_shape(right.shape)}",
                e.right.span,
                "divide by a number or a scalar expression",
            )
            return None
        if left.shape != right.shape and () not in (left.shape, right.shape):
            self.sink.error(
                "E301",
                f"`{e.symbol}` needs equal shapes, found {fmt_shape(left.shape)} "
                f"and {fmt_shape(right.shape)}",
                e.span,
                "reduce both sides to scalars (`sum`, `mlp`) or make the shapes match",
            )
            return None
        shape = left.shape if left.shape != () else right.shape
        return ir.Op(shape, e.span, op, (left, right), (), None)

    def _call(self, e: ast.Call) -> ir.ENode | None:
        name = e.func.text
        if name in self.functions:
            return self._call_function(e, self.functions[name])
        if name in self._failed:
            return None  # a function reported where it was defined
        signature = ENERGY_BLOCKS.get(name)
        if signature is None:
            self.sink.error(
                "E103",
                f"unknown building block `{name}`{suggest(name, ENERGY_BLOCKS)}",
                e.func.span,
                "energy blocks: "
                + ", ".join(n for n in ENERGY_BLOCKS if n not in ACTIVATIONS)
                + "; activations: "
                + ", ".join(ACTIVATIONS),
            )
            return None
        module = self._names.pop() if _parametric(name) else None
        bound = bind_args(
            signature, e.args, e.span, self.scope, lambda p, x: self._argument(p, x, name)
        )
        if bound is None:
            return None
        node = signature.extra["shape"](self, e, name, bound, module)
        if node is not None and module is not None and self._calling:
            return node if self._shared_block(node) else None
        return node

    def _argument(self, param: Param, expr: ast.Expr, callee: str):
        if param.type == "discrete":
            name = expr.ident.text if isinstance(expr, ast.Name) else None
            variable = self.scope.variables.get(name) if name else None
            if name is not None and variable is None and name not in self.lets:
                self._name(expr)  # unknown name: E101 with suggestions (or already reported)
                return INVALID
            if variable is None or variable.kind != "categorical":
                if variable is not None:
                    found = f"{variable.kind} variable `{name}` ({variable.describe()})"
                else:
                    found = f"binding `{name}`" if name else "an expression"
                self.sink.error(
                    "E201",
                    f"`{callee}` needs a categorical variable, found {found}",
                    expr.span,
                    "binary variables are already 0/1 vectors: use them directly"
                    if variable is not None and variable.kind == "binary"
                    else "pass a declared `categorical(K)` variable",
                )
                return INVALID
            return ir.Input(variable.tensor_shape, expr.span, variable.name)
        if param.type == "number_or_tensor" and fold_number(expr) is not None:
            return ir.Const((), expr.span, float(fold_number(expr)))
        node = self.expr(expr)
        return INVALID if node is None else node

    def error_shape(self, span: Span, message: str, help: str) -> None:
        self.sink.error("E301", message, span, help)
