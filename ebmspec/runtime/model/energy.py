"""Lower the energy IR to a `torch.nn.Module`.

In: `ir.Program` (its variables and energy graph). Out: `EnergyModel`, whose `forward(values)`
takes `{variable name: batched tensor}` (categoricals one-hot coded, binaries as 0/1 floats) and
returns f(x, y) = log p~(x, y) of shape [batch]. Parameters live in `model.blocks[<binding name>]`.
`module_spec` is shared with codegen so both build identical modules.
"""

from __future__ import annotations

import torch
from torch import nn

from ebmspec import ir
from ebmspec.passes import plan_cache
from ebmspec.runtime.model import ops
from ebmspec.runtime.model.blocks import MODULE_CLASSES, OPS


def module_spec(node: ir.Op) -> tuple[str, dict]:
    """Class name and constructor arguments of the parameter block an `Op` owns (the block's
    `MODULE` in `runtime.model.blocks`: the constructor takes those attributes of the Op)."""
    attrs = dict(node.attrs)
    module, names = MODULE_CLASSES[node.op]
    kwargs = {k: list(attrs[k]) if isinstance(attrs[k], tuple) else attrs[k] for k in names}
    return module.__name__, kwargs


def parametric_ops(energy: ir.Energy) -> list[ir.Op]:
    """Every Op that owns parameters, in evaluation order, once per parameter block (the calls
    of a function share its blocks: the first call's Op stands for them)."""
    found: list[ir.Op] = []
    names: set[str] = set()

    def walk(node: ir.ENode) -> None:
        if isinstance(node, ir.Op):
            if node.module is not None and node.module not in names:
                names.add(node.module)
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
        # The moves of the program's samplers that cache (passes/plan_cache.py): the emitted
        # module has a split for exactly these.
        self.plans = plan_cache.plan_caches(program)
        self.program_name = program.name
        self.energy = program.energy
        self.variables = {v.name: v for v in program.variables}
        self.params = ops.Params()
        for decl in program.params:
            kind, value = decl.init
            self.params.add(decl.name, decl.shape, kind, value, decl.fixed)
        self.blocks = ops.Blocks()
        for node in parametric_ops(program.energy):
            module, _ = MODULE_CLASSES[node.op]
            self.blocks[node.module] = module(**module_spec(node)[1])

    def _eval(self, node: ir.ENode, env: dict, values: dict):
        if isinstance(node, ir.Input):
            return values[node.variable]
        if isinstance(node, ir.Const):
            return node.value
        if isinstance(node, ir.Ref):
            return env[node.name]
        if isinstance(node, ir.Param):
            return self.params.get(node.name, next(iter(values.values())).shape[0])
        return _apply(self, node, [self._eval(child, env, values) for child in node.inputs])

    def forward(self, values: dict[str, torch.Tensor]) -> torch.Tensor:
        batch = next(iter(values.values())).shape[0]
        env: dict = {}
        for let in self.energy.lets:
            env[let.name] = self._eval(let.value, env, values)
        return ops.finish(self._eval(self.energy.result, env, values), batch)

    def parameter_counts(self) -> dict[str, int]:
        counts = {n: p.numel() for n, p in self.params.named_parameters()}
        for name, block in self.blocks.items():
            counts[name] = sum(p.numel() for p in block.parameters())
        return counts

    def split(self, moving, fold: bool = True) -> EnergySplit | None:
        """The energy split for moves of the variables `moving` (`passes.plan_cache`) when
        caching pays, else None: `statics(values)` computes the roots once per held values and
        `head(statics, values)` the rest. Kernels use it through `Target` (kernels/base.py),
        which asks once per sampling run."""
        plan = self.plans.get(tuple(sorted(moving))) if fold else None
        if plan is None and not fold:
            plan = plan_cache.block_split(self.energy, moving, fold)
        return None if plan is None else EnergySplit(self, plan)

    def specialize(
        self, fixed: dict[str, torch.Tensor], fold: bool = False, train: bool = False
    ) -> SpecializedEnergy:
        """f with the variables of `fixed` ({name: [B, ...]} per chain) held at those values:
        every maximal subexpression that reads no other variable (dSprites: the CNN h(x)) is
        evaluated once, here, and the returned module evaluates only the rest per call, with the
        very same operations (bit for bit the same f). `fold=True` also folds the fixed inputs'
        share of the first layer of an MLP on a concat into a per-chain bias (MNIST: 784 of its
        794 columns), which changes f by float rounding only. `train=True` (a loss enumerating
        labels): the once-computed part keeps its graph whenever autograd is on, so the
        parameters it reads get their gradients too."""
        moving = [name for name in self.variables if name not in fixed]
        split = EnergySplit(self, plan_cache.split_energy(self.energy, moving, fold))
        return SpecializedEnergy(split, fixed, train=train)


def _apply(model: EnergyModel, node: ir.Op, args: list):
    if node.module is not None:
        return model.blocks[node.module](*args)
    return OPS[node.op](*args, **dict(node.attrs))


class EnergySplit:
    """An `EnergyModel` evaluated in two parts by a `plan_cache.EnergySplit` plan.

    `statics(values)` -> tuple of root values (one row per chain), computed from the variables
    the plan holds; `head(statics, values)` -> f [B] from them and the moving variables. The
    head performs the same operations as `EnergyModel.forward` on the rest of the graph, so f is
    bit for bit the same unless the plan folds a first layer (`Share`: float rounding only).
    """

    def __init__(self, model: EnergyModel, plan: plan_cache.EnergySplit):
        self.model = model
        self.plan = plan
        self.static_lets = frozenset(plan.static_lets)
        self.head_lets = frozenset(plan.head_lets)
        # Keys are id() of the model's own IR nodes, which live as long as the model.
        self.roots = {}
        self.shares = {}
        for index, root in enumerate(plan.roots):
            if isinstance(root, plan_cache.Share):
                self.shares[id(root.mlp)] = (index, root)
            else:
                self.roots[id(root)] = index

    def statics(self, values: dict) -> tuple:
        model, env = self.model, {}
        for let in model.energy.lets:
            if let.name in self.static_lets:
                env[let.name] = model._eval(let.value, env, values)
        out = []
        for root in self.plan.roots:
            if isinstance(root, plan_cache.Share):
                parts = [model._eval(part, env, values) for part in root.parts]
                held = parts[0] if len(parts) == 1 else torch.cat(parts, 1)
                out.append(model.blocks[root.mlp.module].share(held, root.columns))
            else:
                out.append(model._eval(root, env, values))
        return tuple(out)

    def _eval(self, node: ir.ENode, env: dict, values: dict, statics: tuple):
        index = self.roots.get(id(node))
        if index is not None:
            return statics[index]
        share = self.shares.get(id(node))
        if share is not None:
            index, root = share
            mlp = self.model.blocks[node.module]
            parts = [self._eval(part, env, values, statics) for part in root.free]
            free = parts[0] if len(parts) == 1 else torch.cat(parts, 1)
            return mlp.tail(statics[index] + mlp.share(free, root.free_columns, bias=False))
        if isinstance(node, ir.Op):
            args = [self._eval(child, env, values, statics) for child in node.inputs]
            return _apply(self.model, node, args)
        return self.model._eval(node, env, values)

    def head(self, statics: tuple, values: dict) -> torch.Tensor:
        env: dict = {}
        for let in self.model.energy.lets:
            if let.name in self.head_lets:
                env[let.name] = self._eval(let.value, env, values, statics)
        batch = next(iter(values.values())).shape[0] if values else statics[0].shape[0]
        return ops.finish(self._eval(self.model.energy.result, env, values, statics), batch)


class SpecializedEnergy(nn.Module):
    """`model` specialised to fixed values of some variables (see `EnergyModel.specialize`).

    `forward(values)` takes the same `{name: [B, ...]}` as the model and returns the same f (bit
    for bit without `fold`, up to float rounding with it); the fixed variables' entries are not
    read (they may be absent), and B must be the fixed batch. The split's roots are computed
    once, here, with the parameters as they are now; without autograd when no fixed tensor
    requires a gradient, unless `train` (then with it whenever autograd is on: a loss that
    enumerates labels through the split must reach the parameters of the fixed part - without
    it, semi-supervised and VERA training only ever trained the part after the split).
    `tile(n)` repeats the roots n times (row c*B + b = row b); a call with n*B rows
    does so itself.
    """

    def __init__(self, split: EnergySplit, fixed: dict, statics=None, batch=None, train=False):
        super().__init__()
        self.parts = split
        self.model = split.model
        self.fixed = frozenset(fixed)
        if statics is None:
            tensors = [t for t in fixed.values() if isinstance(t, torch.Tensor)]
            needs_grad = train or any(t.requires_grad for t in tensors)
            with torch.set_grad_enabled(needs_grad and torch.is_grad_enabled()):
                statics = split.statics(dict(fixed))
            batch = next((t.shape[0] for t in fixed.values() if isinstance(t, torch.Tensor)), None)
        self.statics = statics
        self.batch = batch
        self.tiles: dict = {}  # copies -> self.tile(copies), made on first use

    def tile(self, times: int) -> SpecializedEnergy:
        """The same specialisation for `times` copies of the fixed batch, copy-major."""
        statics = tuple(value.repeat(times, *([1] * (value.dim() - 1))) for value in self.statics)
        batch = None if self.batch is None else self.batch * times
        return SpecializedEnergy(self.parts, dict.fromkeys(self.fixed), statics, batch)

    def forward(self, values: dict[str, torch.Tensor]) -> torch.Tensor:
        free = {name: t for name, t in values.items() if name not in self.fixed}
        batch = next(iter(free.values())).shape[0] if free else self.batch
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
        return self.parts.head(self.statics, free)


def lower_energy(program: ir.Program, seed: int | None = 0) -> EnergyModel:
    """Build the energy module; `seed` makes the initial parameters reproducible."""
    if seed is None:
        return EnergyModel(program)
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        return EnergyModel(program)


def variable_table(program: ir.Program) -> dict:
    """`{name: ops.Var}`, the form the samplers and the standalone code use."""
    return {
        v.name: ops.Var(v.kind, v.shape, v.categories, v.low, v.high) for v in program.variables
    }


def random_values(program: ir.Program, batch: int, generator: torch.Generator) -> dict:
    """A random batch of valid variable values (for tests, summaries and smoke runs)."""
    return ops.random_values(variable_table(program), batch, generator)
