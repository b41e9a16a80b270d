"""User-defined functions in the energy: `def pair(a, b) = sum(a * b)`, and the blocks they share.

In: `ast.FunctionDef` statements and calls of them inside the energy. Out: the IR of each call -
the body with its parameters standing for the call's arguments (an expansion: the IR has no
functions, so every later stage sees plain ops), or None after a located error. The parametric
blocks in a body are one instance, named after the function (`def enc(v) = mlp(v, ...)` owns the
parameters `enc`), whatever the number of calls: a function is how a spec ties weights. A call
that would give the shared block another shape than its first call is E309. Functions may call
earlier functions, not themselves (E309). Still closed: a body is an energy expression.

A mixin of `semantic.energy.EnergyChecker` (it needs `expr`, `sink`, `scope`, `lets`).
"""

from __future__ import annotations

from ebmspec import ir
from ebmspec.frontend import ast
from ebmspec.semantic.registry import ENERGY_BLOCKS
from ebmspec.semantic.shapes import fmt_shape


class FunctionChecks:
    def _define(self, stmt: ast.FunctionDef) -> bool:
        """Register a function (its body is checked at each call, against the arguments)."""
        name = stmt.name.text
        taken = (
            "a variable" if name in self.scope.variables
            else "a parameter" if name in self.scope.params
            else "a binding" if name in self.lets
            else "a function" if name in self.functions
            else "a building block" if name in ENERGY_BLOCKS
            else None
        )  # fmt: skip
        if taken is not None:
            self.sink.error(
                "E102",
                f"`{name}` is already {taken}",
                stmt.name.span,
                "give the function another name",
            )
            return False
        seen: set[str] = set()
        for param in stmt.params:
            if param.text in seen:
                self.sink.error(
                    "E102",
                    f"parameter `{param.text}` appears twice in `{name}`",
                    param.span,
                    "give each parameter its own name",
                )
                return False
            seen.add(param.text)
        self.functions[name] = stmt
        return True

    def _call_function(self, e: ast.Call, function: ast.FunctionDef) -> ir.ENode | None:
        name = function.name.text
        items = e.args.items if e.args else ()
        if any(isinstance(item, ast.KeywordArg) for item in items):
            keyword = next(item for item in items if isinstance(item, ast.KeywordArg))
            self.sink.error(
                "E105",
                f"`{name}` takes its arguments by position",
                keyword.span,
                f"write `{name}({', '.join(p.text for p in function.params)})`",
            )
            return None
        if len(items) != len(function.params):
            self.sink.error(
                "E105",
                f"`{name}` takes {len(function.params)} argument(s), found {len(items)}",
                e.span,
                f"call it as `{name}({', '.join(p.text for p in function.params)})` "
                f"(defined at line {function.span.line})",
            )
            return None
        if name in self._calling:
            self.sink.error(
                "E309",
                f"`{name}` calls itself",
                e.span,
                "a function's body is an expression; expand the recursion by hand",
            )
            return None
        arguments = [self.expr(item) for item in items]
        if any(a is None for a in arguments):
            return None
        saved_locals, saved_names = self._locals, self._names
        self._locals = {p.text: a for p, a in zip(function.params, arguments, strict=True)}
        self._names = self._body_names(function)
        self._calling.append(name)
        self._call_spans.append(e.span)
        try:
            return self.expr(function.body)
        finally:
            self._calling.pop()
            self._call_spans.pop()
            self._locals, self._names = saved_locals, saved_names

    def _body_names(self, function: ast.FunctionDef) -> list[str]:
        """The names of the parametric blocks of a body: the function's, as a binding's."""
        return self._block_names(function.name.text, function.body)

    def _shared_block(self, node: ir.Op) -> bool:
        """A parametric block of a function body: the same instance at every call, so its
        attributes (input and output sizes) must agree with those of the first call (the error
        points at the call whose arguments disagree)."""
        span = self._call_spans[0]  # the outermost call: where the statement calls it
        first = self._instances.get(node.module)
        if first is None:
            self._instances[node.module] = (node, span)
            return True
        if first[0].attrs == node.attrs and first[0].shape == node.shape:
            return True
        self.sink.error(
            "E309",
            f"the `{node.op}` of `{self._calling[-1]}` is one block shared by all its calls; "
            f"here it would be {node.op}({_attrs(node)}) -> {fmt_shape(node.shape)}, at the "
            f"first call (line {first[1].line}) {node.op}({_attrs(first[0])}) -> "
            f"{fmt_shape(first[0].shape)}",
            span,
            "call the function with arguments of the shapes of its first call, or define a "
            "second function for the other shapes (its blocks are its own)",
        )
        return False


def _attrs(node: ir.Op) -> str:
    return ", ".join(f"{k}={ir.format_value(v)}" for k, v in node.attrs)
