"""Colour the sites of every per-site `gibbs` block so that one pass draws a whole colour.

In: a program after `fill_sampler_defaults`. Out: the same program where every `gibbs` block
that scans sites (not `joint = true`) carries an `ir.Colouring`: the interaction graph of its
sites, read off the energy's structure, coloured by DSatur. Sites of one colour share no term
of f, so given everything else they are independent and one batched evaluation draws them all:
two colours for a checkerboard lattice, two for a chain, one for an RBM's hidden units.

The structure is read by propagating, through the energy graph, which sites every element of
every intermediate value depends on - a 0/1 matrix [sites, elements], computed by the runtime's
own structural ops (`roll`, slices, reshapes, sums: they map a non-negative indicator to a
non-negative indicator of the same dependence). Two sites interact when a product pairs an
element depending on one with an element depending on the other, or when a nonlinear function
(exp, an activation, a network, logsumexp) reads an element depending on both. A site
"interacts with itself" when f is not affine in its code (a square, a nonlinearity of it); then a
colour is drawn by enumerating its sites' values, otherwise by one gradient (`kernels.gibbs`).
An op this pass does not know is taken to couple everything it reads: the analysis can only
over-colour (fewer sites per pass), never put two interacting sites in one colour. No numeric
probe is run: a graph too large to analyse (over `MAX_CELLS` indicator cells) keeps one site per
colour, and the dump says so.
"""

from __future__ import annotations

from dataclasses import replace

import torch

from ebmspec import ir


def _rows(x: torch.Tensor) -> torch.Tensor:
    return x.reshape(x.shape[0], -1)


def _sum(x: torch.Tensor, axis=None) -> torch.Tensor:
    return _rows(x).sum(1) if axis is None else x.sum(axis + 1)


# Ops that move, copy, reshape or sum elements, on the dependence indicator [sites, *shape]
# exactly as the runtime's (runtime/model/blocks) on values [batch, *shape].
_STRUCTURAL = {
    "neg": lambda x: x,
    "identity": lambda x: x,
    "subscript": lambda x, index: x[
        (slice(None), *(k[1] if k[0] == "i" else slice(*k[1:]) for k in index))
    ],
    "roll": lambda x, shift, axis: torch.roll(x, shift, axis + 1),
    "reshape": lambda x, shape: x.reshape(x.shape[0], *shape),
    "flatten": _rows,
    "onehot": _rows,
    "concat": lambda *xs: torch.cat(xs, dim=1),
    "sum": _sum,
    "mean": _sum,
}
# Elementwise functions of one input: each element keeps its dependence, and is nonlinear in it.
_ELEMENTWISE = frozenset(
    {"exp", "log", "abs", "sqrt", "clamp", "relu", "elu", "silu", "gelu", "tanh", "sigmoid",
     "softplus", "leaky_relu"}
)  # fmt: skip
# Affine maps with dense weights: every output element depends on every input element.
_DENSE_AFFINE = frozenset({"linear", "embedding"})
# Products of two inputs, summed over their last axis (`dot`, `index`) or not (`mul`).
_PRODUCTS = frozenset({"mul", "dot", "index"})
# Indicator cells (sites x elements) beyond which a graph is not analysed.
MAX_CELLS = 50_000_000


class _TooLarge(Exception):
    pass


def _align(a: torch.Tensor, b: torch.Tensor):
    """Both broadcast as the runtime's binary ops do (`ops._align`): the value with fewer axes
    is a per-example scalar [sites] against a tensor [sites, ...]."""
    if a.dim() < b.dim():
        a = a.reshape(a.shape + (1,) * (b.dim() - a.dim()))
    elif b.dim() < a.dim():
        b = b.reshape(b.shape + (1,) * (a.dim() - b.dim()))
    return torch.broadcast_tensors(a, b)


class _Interactions:
    """The dependence of each value on the block's sites, and the interaction matrix."""

    def __init__(self, program: ir.Program, names: tuple[str, ...]):
        self.sites = sum(program.variable(n).sites for n in names)
        self.offsets, start = {}, 0
        for name in names:
            self.offsets[name] = start
            start += program.variable(name).sites
        self.variables = {v.name: v for v in program.variables}
        self.params = {p.name: p for p in program.params}
        self.coupled = torch.zeros(self.sites, self.sites)
        self.lets = {let.name: let.value for let in program.energy.lets}
        self.memo: dict[int, torch.Tensor] = {}

    def _leaf(self, shape) -> torch.Tensor:
        return torch.zeros(self.sites, *shape)

    def _check(self, shape) -> None:
        cells = self.sites
        for size in shape:
            cells *= size
        if cells > MAX_CELLS:
            raise _TooLarge

    def _pairs(self, a: torch.Tensor, b: torch.Tensor) -> None:
        """Sites i, j interact when some element depends on i through `a` and on j through `b`."""
        a, b = _align(a, b)
        rows_a, rows_b = a.reshape(self.sites, -1), b.reshape(self.sites, -1)
        found = (rows_a @ rows_b.t()) > 0
        self.coupled += (found | found.t()).float()

    def _clique(self, deps: torch.Tensor) -> None:
        """Every element is a nonlinear function of all the sites it depends on."""
        rows = deps.reshape(self.sites, -1)
        self.coupled += ((rows @ rows.t()) > 0).float()

    def visit(self, node: ir.ENode) -> torch.Tensor:
        while isinstance(node, ir.Ref):
            node = self.lets[node.name]
        self._check(node.shape)
        if isinstance(node, ir.Input):
            deps = self._leaf(self.variables[node.variable].tensor_shape)
            if node.variable in self.offsets:
                variable = self.variables[node.variable]
                start = self.offsets[node.variable]
                flat = deps.reshape(self.sites, variable.sites, -1)
                index = torch.arange(variable.sites)
                flat[start + index, index, :] = 1.0
            return deps
        if not isinstance(node, ir.Op):
            return self._leaf(node.shape)
        key = id(node)
        if key not in self.memo:
            deps = self._op(node, [self.visit(child) for child in node.inputs])
            self.memo[key] = (deps > 0).float()
        return self.memo[key]

    def _op(self, node: ir.Op, inputs: list[torch.Tensor]) -> torch.Tensor:
        attrs = dict(node.attrs)
        if not any(bool(d.any()) for d in inputs):
            return self._leaf(node.shape)
        if node.op in _STRUCTURAL:
            return _STRUCTURAL[node.op](*inputs, **attrs)
        if node.op in ("add", "sub"):
            return sum(_align(*inputs))
        if node.op in _PRODUCTS or node.op == "bilinear":
            a, b = inputs
            if node.op != "mul" and a.shape != b.shape:
                # `bilinear` (a^T W b, W dense), or a product whose operands broadcast: every
                # element of one side may meet every element of the other.
                a, b = _rows(a).amax(1), _rows(b).amax(1)
                self._pairs(a, b)
                return self._everywhere(a + b, node.shape)
            self._pairs(a, b)
            deps = sum(_align(a, b))
            return deps if node.op == "mul" else deps.sum(-1)  # dot, index: over the last axis
        if node.op == "lookup":  # T[a, b]: a product of the table and every code, per site
            table, *codes = inputs
            parts = [table.amax(tuple(range(-len(codes), 0)))] + [c.amax(-1) for c in codes]
            for i in range(len(parts)):
                for j in range(i + 1, len(parts)):
                    self._pairs(parts[i], parts[j])
            deps = parts[0]
            for part in parts[1:]:
                deps = sum(_align(deps, part))
            return deps
        if node.op in ("div", "pow") and not bool(inputs[1].any()):
            exponent = node.inputs[1]
            unit = node.op == "pow" and isinstance(exponent, ir.Const) and exponent.value == 1
            if unit or node.op == "div":  # a ** 1, or a / c with c free of the sites: affine
                return inputs[0]
        if node.op in _ELEMENTWISE or node.op in ("div", "pow"):
            deps = inputs[0] if len(inputs) == 1 else sum(_align(*inputs))
            self._clique(deps)
            return deps
        if node.op == "logsumexp" or (node.op in ("min", "max") and len(inputs) == 1):
            deps = _sum(inputs[0], **attrs)
            self._clique(deps)  # each result is a nonlinear function of the elements it reduces
            return deps
        if node.op in ("min", "max"):  # elementwise of two tensors: nonlinear in both
            deps = sum(_align(*inputs))
            self._clique(deps)
            return deps
        if node.op == "conv":
            return self._conv(node, inputs[0], attrs["periodic"])
        if node.op == "matmul":  # every element of a row of one side meets every one of the other
            a, b = (_rows(d).amax(1) for d in inputs)
            self._pairs(a, b)
            return self._everywhere(a + b, node.shape)
        # A dense affine map, or any other block: each output element reads every input element.
        union = torch.stack([_rows(d).amax(1) for d in inputs]).amax(0)
        if node.op not in _DENSE_AFFINE and not (node.op == "mlp" and not attrs.get("hidden")):
            self._clique(union)
        return self._everywhere(union, node.shape)

    def _conv(self, node: ir.Op, deps: torch.Tensor, periodic: bool) -> torch.Tensor:
        """Each output element depends on the input elements under the kernel's support: its
        non-zero entries when it is a fixed literal, its whole window otherwise."""
        kernel = node.inputs[1]
        decl = self.params.get(kernel.name)
        if decl is not None and decl.fixed and decl.init[0] == "values":
            support = (torch.tensor(decl.init[1]) != 0).float()
        elif decl is not None and decl.fixed and decl.init[0] == "constant":
            support = torch.full(kernel.shape, float(decl.init[1] != 0))
        else:
            support = torch.ones(kernel.shape)
        pad_h, pad_w = kernel.shape[0] // 2, kernel.shape[1] // 2
        image = deps.unsqueeze(1)
        if periodic:
            image = torch.nn.functional.pad(image, (pad_w, pad_w, pad_h, pad_h), mode="circular")
            padding = 0
        else:
            padding = (pad_h, pad_w)
        return torch.nn.functional.conv2d(image, support[None, None], padding=padding)[:, 0]

    def _everywhere(self, union: torch.Tensor, shape) -> torch.Tensor:
        """Every element of `shape` depending on the sites `union` [sites]."""
        return union.reshape(self.sites, *([1] * len(shape))).expand(self.sites, *shape).clone()


def _dsatur(coupled: torch.Tensor) -> tuple[int, ...]:
    """Colour the graph by DSatur (Brelaz 1979): repeatedly the uncoloured site seeing the most
    distinct colours among its neighbours (then the most neighbours, then the first) takes the
    smallest colour none of them has. Exact on bipartite graphs (a checkerboard, a chain, an
    RBM), three colours on an odd torus."""
    sites = coupled.shape[0]
    adjacent = coupled > 0
    adjacent.fill_diagonal_(False)
    degree = adjacent.sum(1)
    seen = torch.zeros(sites, sites + 1, dtype=torch.bool)  # [site, colour] a neighbour has it
    colours = torch.full((sites,), -1, dtype=torch.long)
    for _ in range(sites):
        rank = seen.sum(1) * (sites + 1) + degree
        rank = torch.where(colours < 0, rank, torch.full_like(rank, -1))
        site = int(rank.argmax())  # the first of the highest rank
        colour = int((~seen[site]).nonzero()[0])
        colours[site] = colour
        seen[adjacent[site], colour] = True
    return tuple(colours.tolist())


def colouring(program: ir.Program, names: tuple[str, ...], span=None) -> ir.Colouring:
    """The colouring of the sites of the discrete variables `names` given the others (`span`:
    the block's, default the energy's)."""
    span = program.energy.span if span is None else span
    analysis = _Interactions(program, names)
    try:
        analysis.visit(program.energy.result)
    except _TooLarge:
        return ir.Colouring(
            tuple(range(analysis.sites)),
            "enumerate",
            f"not analysed: over {MAX_CELLS:,} dependence cells; one site per colour",
            span,
        )
    coupled = analysis.coupled > 0
    draw = "enumerate" if bool(coupled.diagonal().any()) else "gradient"
    return ir.Colouring(_dsatur(coupled), draw, "structure", span)


def colour_gibbs(program: ir.Program) -> ir.Program:
    """Every per-site `gibbs` block with its colouring."""

    def colour(block: ir.Block) -> ir.Block:
        if block.kernel.name != "gibbs" or block.kernel.arg("joint"):
            return block
        return replace(block, colouring=colouring(program, block.variables, block.span))

    samplers = tuple(
        replace(s, blocks=tuple(colour(b) for b in s.blocks)) for s in program.samplers
    )
    return replace(program, samplers=samplers)
