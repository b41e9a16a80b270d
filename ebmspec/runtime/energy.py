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
