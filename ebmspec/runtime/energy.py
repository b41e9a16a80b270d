"""Lower the energy IR to a `torch.nn.Module`.

In: `ir.Program` (its variables and energy graph). Out: `EnergyModel`, whose `forward(values)`
takes `{variable name: batched tensor}` (categoricals one-hot coded, binaries as 0/1 floats) and
returns f(x, y) = log p~(x, y) of shape [batch]. Parameters live in `model.blocks[<binding name>]`.
`module_spec` is shared with codegen so both build identical modules.
"""

from __future__ import annotations

from typing import NamedTuple

import torch
from torch import nn

from ebmspec import ir
from ebmspec.runtime import layers

MODULE_CLASSES = {
    "mlp": "MLP",
    "cnn": "CNN",
    "embedding": "Embedding",
    "bilinear": "Bilinear",
    "quadratic": "Quadratic",
}
_MODULE_ARGS = {
    "mlp": ("in_features", "hidden", "out", "act", "bias"),
    "cnn": ("in_channels", "channels", "kernels", "strides", "paddings", "head", "act"),
    "embedding": ("categories", "dim"),
    "bilinear": ("left", "right"),
    "quadratic": ("dim", "bias"),
}


def module_spec(node: ir.Op) -> tuple[str, dict]:
    """Class name and constructor arguments of the parameter block an `Op` owns."""
    attrs = dict(node.attrs)
    kwargs = {}
    for key in _MODULE_ARGS[node.op]:
        value = attrs[key]
        kwargs[key] = list(value) if isinstance(value, tuple) else value
    return MODULE_CLASSES[node.op], kwargs


def parametric_ops(energy: ir.Energy) -> list[ir.Op]:
    """Every Op that owns parameters, in evaluation order."""
    found: list[ir.Op] = []

    def walk(node: ir.ENode) -> None:
        if isinstance(node, ir.Op):
            if node.module is not None:
                found.append(node)
            for child in node.inputs:
                walk(child)

    for let in energy.lets:
        walk(let.value)
    walk(energy.result)
    return found


class EnergyModel(nn.Module):
    """f(values) for one checked program; interprets the (small) energy graph per call."""

    def __init__(self, program: ir.Program):
        super().__init__()
        self.program_name = program.name
        self.energy = program.energy
        self.variables = {v.name: v for v in program.variables}
        self.blocks = layers.Blocks()
        for node in parametric_ops(program.energy):
            class_name, kwargs = module_spec(node)
            self.blocks[node.module] = getattr(layers, class_name)(**kwargs)

    def _eval(self, node: ir.ENode, env: dict, values: dict):
        if isinstance(node, ir.Input):
            return values[node.variable]
        if isinstance(node, ir.Const):
            return node.value
        if isinstance(node, ir.Ref):
            return env[node.name]
        args = [self._eval(child, env, values) for child in node.inputs]
        if node.module is not None:
            return self.blocks[node.module](*args)
        return getattr(layers, f"op_{node.op}")(*args, **dict(node.attrs))

    def forward(self, values: dict[str, torch.Tensor]) -> torch.Tensor:
        batch = next(iter(values.values())).shape[0]
        env: dict = {}
        for let in self.energy.lets:
            env[let.name] = self._eval(let.value, env, values)
        return layers.finish(self._eval(self.energy.result, env, values), batch)

    def parameter_counts(self) -> dict[str, int]:
        return {
            name: sum(p.numel() for p in block.parameters()) for name, block in self.blocks.items()
        }

    def specialize(self, fixed: dict[str, torch.Tensor], fold: bool = False) -> SpecializedEnergy:
        """f with the variables of `fixed` ({name: [B, ...]} per chain) held at those values:
        every maximal subexpression that reads no other variable (dSprites: the CNN h(x)) is
        evaluated once, here, and the returned module evaluates only the rest per call, with the
        very same operations (bit for bit the same f). `fold=True` also folds the fixed inputs'
        share of the first layer of an MLP on a concat into a per-chain bias (MNIST: 784 of its
        794 columns), which changes f by float rounding only."""
        return SpecializedEnergy(self, fixed, fold=fold)


def _apply(model: EnergyModel, node: ir.Op, args: list):
    if node.module is not None:
        return model.blocks[node.module](*args)
    return getattr(layers, f"op_{node.op}")(*args, **dict(node.attrs))


class _Folded(NamedTuple):
    """An MLP on concat(parts) some of whose parts are fixed: their product with the first
    layer's weight columns, plus its bias, is `partial` [B, out]; per call only the `free` parts
    go through `weight` (the first layer's columns of the free parts, [out, n_free])."""

    partial: torch.Tensor
    free: tuple
    weight: torch.Tensor


class SpecializedEnergy(nn.Module):
    """`model` specialised to fixed values of some variables (see `EnergyModel.specialize`).

    `forward(values)` takes the same `{name: [B, ...]}` as the model and returns the same f (bit
    for bit without `fold`, up to float rounding with it); the fixed variables' entries are not
    read (they may be absent), and B must be the fixed batch. Precomputed: every maximal
    subexpression that reads only fixed variables and, with `fold`, for an MLP on a concat of
    fixed and free parts, the fixed parts' share of its first layer. Precomputing runs without
    autograd when no fixed tensor requires a gradient and takes the parameters as they are now,
    so this is a module for sampling and prediction, not for training. `tile(n)` repeats the
    precomputed rows n times (row c*B + b = row b); a call with n*B rows does so itself.
    """

    def __init__(
        self, model: EnergyModel, fixed: dict, fold=False, cache=None, folded=None, batch=None
    ):
        super().__init__()
        self.model = model
        self.fixed = frozenset(fixed)
        if cache is None:
            cache, folded, batch = self._precompute(dict(fixed), fold)
        # Keys are id() of the model's own IR nodes, which live as long as the model.
        self.cache = cache  # id -> (value, batched): hoisted subexpressions
        self.folded = folded  # id -> _Folded: MLPs with their fixed inputs folded in
        self.batch = batch
        self.tiles: dict = {}  # copies -> self.tile(copies), made on first use

    def _precompute(self, fixed: dict, fold: bool):
        energy, cache, folded, uses = self.model.energy, {}, {}, {}

        def reads(node: ir.ENode) -> frozenset:
            if isinstance(node, ir.Input):
                return frozenset((node.variable,))
            if isinstance(node, ir.Ref):
                return uses[node.name]
            if isinstance(node, ir.Op):
                return frozenset().union(*(reads(child) for child in node.inputs))
            return frozenset()

        def hoist(node: ir.ENode, env: dict) -> None:
            used = reads(node)
            if used <= self.fixed and not isinstance(node, ir.Const | ir.Ref):
                cache[id(node)] = (self.model._eval(node, env, fixed), bool(used))
            elif isinstance(node, ir.Op):
                parts = _concat_parts(node) if fold else ()
                static = [bool(reads(p)) and reads(p) <= self.fixed for p in parts]
                if any(static):
                    folded[id(node)] = self._fold(node, parts, static, env, fixed)
                    for part, done in zip(parts, static, strict=True):
                        if not done:
                            hoist(part, env)
                    return
                for child in node.inputs:
                    hoist(child, env)

        needs_grad = any(t.requires_grad for t in fixed.values() if isinstance(t, torch.Tensor))
        env: dict = {}
        with torch.set_grad_enabled(needs_grad and torch.is_grad_enabled()):
            for let in energy.lets:
                hoist(let.value, env)
                uses[let.name] = reads(let.value)
                if id(let.value) in cache:
                    env[let.name] = cache[id(let.value)][0]
                elif uses[let.name] <= self.fixed:  # a constant or an alias, read by later lets
                    env[let.name] = self.model._eval(let.value, env, fixed)
            hoist(energy.result, env)
        batch = next((t.shape[0] for t in fixed.values() if isinstance(t, torch.Tensor)), None)
        return cache, folded, batch

    def _fold(self, node: ir.Op, parts, static, env: dict, fixed: dict) -> _Folded:
        first = self.model.blocks[node.module].net[0]
        partial, free, columns, offset = first.bias, [], [], 0
        for part, done in zip(parts, static, strict=True):
            width = part.shape[0]
            if done:
                value = self.model._eval(part, env, fixed)
                term = value @ first.weight[:, offset : offset + width].t()
                partial = term if partial is None else term + partial
            else:
                free.append(part)
                columns.append(torch.arange(offset, offset + width))
            offset += width
        weight = first.weight[:, torch.cat(columns).to(first.weight.device)]
        return _Folded(partial, tuple(free), weight)

    def tile(self, times: int) -> SpecializedEnergy:
        """The same specialisation for `times` copies of the fixed batch, copy-major."""

        def repeat(value):
            return value.repeat(times, *([1] * (value.dim() - 1)))

        cache = {
            key: (repeat(value) if batched else value, batched)
            for key, (value, batched) in self.cache.items()
        }
        folded = {
            key: item._replace(partial=repeat(item.partial)) for key, item in self.folded.items()
        }
        batch = None if self.batch is None else self.batch * times
        return SpecializedEnergy(self.model, self.fixed, False, cache, folded, batch)

    def _eval(self, node: ir.ENode, env: dict, values: dict):
        hit = self.cache.get(id(node))
        if hit is not None:
            return hit[0]
        fold = self.folded.get(id(node))
        if fold is not None:
            free = torch.cat([self._eval(part, env, values) for part in fold.free], dim=1)
            mlp = self.model.blocks[node.module]
            out = mlp.net[1:](fold.partial + free @ fold.weight.t())
            return out.squeeze(-1) if mlp.squeeze else out
        if isinstance(node, ir.Op):
            return _apply(self.model, node, [self._eval(c, env, values) for c in node.inputs])
        return self.model._eval(node, env, values)

    def forward(self, values: dict[str, torch.Tensor]) -> torch.Tensor:
        free = [t for name, t in values.items() if name not in self.fixed]
        batch = free[0].shape[0] if free else self.batch
        if self.batch is not None and batch != self.batch:
            # Gibbs scores all K values of a site at once: K copies of the chains, copy-major.
            if batch % self.batch:
                raise ValueError(
                    f"specialised energy was built for a batch of {self.batch} chains (or a "
                    f"multiple of it), got {batch}"
                )
            times = batch // self.batch
            if times not in self.tiles:
                self.tiles[times] = self.tile(times)
            return self.tiles[times](values)
        env: dict = {}
        for let in self.model.energy.lets:
            env[let.name] = self._eval(let.value, env, values)
        return layers.finish(self._eval(self.model.energy.result, env, values), batch)


def _concat_parts(node: ir.Op) -> tuple:
    """The vector parts of an MLP's input `concat(...)`, else () (nothing to fold)."""
    if node.op != "mlp" or node.module is None:
        return ()
    (inner,) = node.inputs
    if not isinstance(inner, ir.Op) or inner.op != "concat":
        return ()
    if any(len(part.shape) != 1 for part in inner.inputs):
        return ()
    return inner.inputs


def lower_energy(program: ir.Program, seed: int | None = 0) -> EnergyModel:
    """Build the energy module; `seed` makes the initial parameters reproducible."""
    if seed is None:
        return EnergyModel(program)
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        return EnergyModel(program)


def variable_table(program: ir.Program) -> dict:
    """name -> (kind, shape, categories, low, high), the form the standalone code uses."""
    return {v.name: (v.kind, v.shape, v.categories, v.low, v.high) for v in program.variables}


def random_values(program: ir.Program, batch: int, generator: torch.Generator) -> dict:
    """A random batch of valid variable values (for tests, summaries and smoke runs)."""
    return layers.random_values(variable_table(program), batch, generator)
