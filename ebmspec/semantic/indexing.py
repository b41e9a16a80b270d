"""Indexing in the energy: integer indices and slices, a categorical scoring a vector, and table
lookups by categoricals.

In: an `ast.Index` / `ast.Subscript` inside the energy. Out: an `ir.Op` - `subscript` (integers
and slices of the per-example axes, Python's rules), `index` (`logits[y]`: scores with the
categorical's own shape plus its K) or `lookup` (`T[a, b]`, `T[y[:-1], y[1:]]`: the entry of a
table at the categories of several categoricals, or slices of them, per site) - or None after a
located E305. A mixin of `semantic.energy.EnergyChecker` (it needs `expr`, `sink`, `scope`).
"""

from __future__ import annotations

from ebmspec import ir
from ebmspec.frontend import ast
from ebmspec.semantic.shapes import fmt_shape
from ebmspec.semantic.values import fold_number


class IndexChecks:
    def indexed(self, e: ast.Index | ast.Subscript) -> ir.ENode | None:
        items = (e.index,) if isinstance(e, ast.Index) else e.items
        codes = [self._is_code(item) for item in items]
        if any(codes):
            if not all(codes):
                first = items[codes.index(False)]
                return self._bad_index(
                    first,
                    "indices are all categoricals (a table lookup, `T[a, b]`) or all integer "
                    "constants and slices, not a mix",
                    "look a table up by categoricals only (`T[y[:-1], y[1:]]`), or slice the "
                    "result afterwards",
                )
            base = self.expr(e.base)
            if base is None:
                return None
            if isinstance(e, ast.Index) and isinstance(e.index, ast.Name):
                variable = self.scope.variables[e.index.ident.text]
                if base.shape == variable.tensor_shape:  # `logits[y]`: scores shaped like y
                    onehot = ir.Input(variable.tensor_shape, e.index.span, variable.name)
                    return ir.Op(variable.shape, e.span, "index", (base, onehot), (), None)
            return self._lookup(e, items, base)
        if isinstance(e, ast.Index) and fold_number(e.index) is None:
            return self._index(e)  # E305, or a categorical's scores
        return self._subscript(e, items)

    def _is_code(self, item: ast.Expr) -> bool:
        """A categorical variable, or integer indices / slices of one (`y`, `y[1:]`, `y[0]`)."""
        while isinstance(item, ast.Index | ast.Subscript):
            item = item.base
        if not isinstance(item, ast.Name):
            return False
        variable = self.scope.variables.get(item.ident.text)
        return variable is not None and variable.kind == "categorical"

    def _subscript(self, e: ast.Index | ast.Subscript, items, base=None) -> ir.ENode | None:
        """Integer indices and slices of a tensor's per-example axes (Python's rules; steps
        positive): `s[:, 1:]`, `t[0]`, `t[::2, -1]`. The IR op `subscript` keeps one entry per
        item: ("i", k) drops axis k's dimension, ("s", start, stop, step) keeps a slice."""
        base = self.expr(e.base) if base is None else base
        if base is None:
            return None
        if len(items) > len(base.shape):
            self.sink.error(
                "E305",
                f"{len(items)} indices for a tensor of shape {fmt_shape(base.shape)}, which has "
                f"{len(base.shape)} ax{'i' if len(base.shape) == 1 else 'e'}s",
                e.span,
                f"index at most {len(base.shape)} axes; a categorical scores a vector alone "
                "(`logits[y]`)",
            )
            return None
        entries, shape = [], []
        for axis, item in enumerate(items):
            size = base.shape[axis]
            if isinstance(item, ast.Slice):
                parts = []
                for part, default in ((item.start, None), (item.stop, None), (item.step, 1)):
                    value = default if part is None else fold_number(part)
                    if part is not None and not isinstance(value, int):
                        return self._bad_index(part, "a slice bound is an integer constant")
                    parts.append(value)
                if parts[2] <= 0:
                    return self._bad_index(item.step, "a slice step is a positive integer")
                length = len(range(*slice(*parts).indices(size)))
                if length == 0:
                    self.sink.error(
                        "E305",
                        f"the slice selects nothing of axis {axis}, which has {size} elements",
                        item.span,
                        f"choose bounds within 0..{size} (negative bounds count from the end)",
                    )
                    return None
                entries.append(("s", *parts))
                shape.append(length)
                continue
            value = fold_number(item)
            if not isinstance(value, int):
                what = f"`{item.ident.text}`" if isinstance(item, ast.Name) else "this expression"
                return self._bad_index(
                    item,
                    f"{what} cannot index here: indices are integer constants or slices, and a "
                    "categorical scores a vector alone (`logits[y]`)",
                )
            if not -size <= value < size:
                self.sink.error(
                    "E305",
                    f"index {value} is out of range for axis {axis}, which has {size} elements",
                    item.span,
                    f"use 0..{size - 1}, or -1..-{size} from the end",
                )
                return None
            entries.append(("i", value % size))
        shape += list(base.shape[len(items) :])
        return ir.Op(tuple(shape), e.span, "subscript", (base,), (("index", tuple(entries)),), None)

    def _bad_index(
        self, node: ast.Expr, message: str, help: str = "write e.g. `t[0]`, `t[1:]`, `s[:, :-1]`"
    ) -> None:
        self.sink.error("E305", message, node.span, help)
        return None

    def _index(self, e: ast.Index) -> None:
        """An index that is neither an integer constant nor a categorical: E305."""
        base = self.expr(e.base)
        if base is not None:
            self.sink.error(
                "E305",
                "a score vector can only be indexed by a categorical variable",
                e.index.span,
                "write `logits[y]` with `y : categorical(K)`, or index by integer constants",
            )
        return None

    def _code(self, item: ast.Expr) -> ir.ENode | None:
        """The one-hot code [*sites, K] of a categorical or of integer indices / slices of its
        sites (the category axis stays whole)."""
        if isinstance(item, ast.Name):
            variable = self.scope.variables[item.ident.text]
            return ir.Input(variable.tensor_shape, item.span, variable.name)
        items = (item.index,) if isinstance(item, ast.Index) else item.items
        base = self._code(item.base)
        if base is None:
            return None
        if len(items) > len(base.shape) - 1:
            sites = len(base.shape) - 1
            self.sink.error(
                "E305",
                f"{len(items)} indices for a categorical of {sites} site ax"
                f"{'i' if sites == 1 else 'e'}s",
                item.span,
                "index its site axes only",
            )
            return None
        return self._subscript(item, items, base)

    def _lookup(self, e: ast.Index | ast.Subscript, items, base: ir.ENode) -> ir.ENode | None:
        """`T[a, b, ...]`: the table's entry at the categories of the codes, per site."""
        codes = [self._code(item) for item in items]
        if any(c is None for c in codes):
            return None
        sites = codes[0].shape[:-1]
        for item, code in zip(items, codes, strict=True):
            if code.shape[:-1] != sites:
                self.sink.error(
                    "E305",
                    f"the indices select different site shapes: {fmt_shape(sites)} and "
                    f"{fmt_shape(code.shape[:-1])}",
                    item.span,
                    "slice them to the same sites, e.g. `T[y[:-1], y[1:]]`",
                )
                return None
        counts = tuple(code.shape[-1] for code in codes)
        if base.shape not in (counts, sites + counts):
            wanted = fmt_shape(counts)
            also = f" or {fmt_shape(sites + counts)} (one per site)" if sites else ""
            self.sink.error(
                "E305",
                f"indexing by {len(codes)} categorical(s) of {', '.join(map(str, counts))} "
                f"values needs a table of shape {wanted}{also}, found {fmt_shape(base.shape)}",
                e.span,
                f"declare the table with that shape: `params {{ T{wanted} = 0.0 }}`",
            )
            return None
        return ir.Op(sites, e.span, "lookup", (base, *codes), (), None)
