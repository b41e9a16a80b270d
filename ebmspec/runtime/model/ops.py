"""What every energy shares: the variable table's row, the parameter-block dict, the operators.

In: batched tensors (leading batch axis; categoricals as one-hot floats on a last axis so that GWG
can differentiate through them). Out: batched tensors. The building blocks themselves (MLP, CNN,
...) are one module each in `runtime.model.blocks`. This file imports nothing but torch: its body
(below the `# --- begin standalone ---` marker) is copied verbatim into every module emitted by
`ebmspec compile`, before the blocks' bodies, so the in-process model and the emitted one run the
very same code.
"""

from __future__ import annotations

import itertools
import math
from typing import NamedTuple

import torch
import torch.nn.functional as F
from torch import nn

# --- begin standalone ---


class Var(NamedTuple):
    """One row of the variable table `{name: Var}` that the samplers, kernels and the emitted
    module read: the domain kind ("real", "binary", "categorical"), the shape without the batch
    axis (nor a categorical's one-hot axis), the number of categories (categorical only) and the
    box of a bounded real variable (else None)."""

    kind: str
    shape: tuple
    categories: int | None = None
    low: float | None = None
    high: float | None = None


class Blocks(nn.ModuleDict):
    """Parameter blocks keyed by the spec's binding names. Any identifier is a valid key (even
    `forward` or `training`), because keys are stored without becoming attributes."""

    def __setitem__(self, key: str, module: nn.Module) -> None:
        self._modules[key] = module

    def __setattr__(self, name: str, value) -> None:
        # nn.Module refuses a plain value for an attribute named like a child module, so a block
        # named `training` would break `.train()` / `.eval()`; plain values go to the instance.
        if not isinstance(value, nn.Module) and name in self.__dict__.get("_modules", ()):
            object.__setattr__(self, name, value)
        else:
            super().__setattr__(name, value)


class Params(nn.Module):
    """The spec's `params`: learned tensors as parameters, `fixed` ones as buffers, keyed by
    their names (any identifier: stored without becoming attributes). `params.get(name, batch)`
    is the tensor seen by every example (expanded, not copied, along a batch axis)."""

    def add(self, name: str, shape, init: str, value, fixed: bool) -> None:
        if init == "values":
            tensor = torch.tensor(value, dtype=torch.float32)
        elif init == "normal":
            tensor = torch.randn(tuple(shape)) * value
        else:
            tensor = torch.full(tuple(shape), float(value))
        if fixed:
            self._buffers[name] = tensor
        else:
            self._parameters[name] = nn.Parameter(tensor)

    def get(self, name: str, batch: int) -> torch.Tensor:
        tensor = self._parameters[name] if name in self._parameters else self._buffers[name]
        return tensor.expand(batch, *tensor.shape)


def _align(a, b):
    """Broadcast a per-example scalar [B] against a per-example tensor [B, ...]."""
    if isinstance(a, torch.Tensor) and isinstance(b, torch.Tensor) and a.dim() != b.dim():
        if a.dim() < b.dim():
            a = a.reshape(a.shape + (1,) * (b.dim() - a.dim()))
        else:
            b = b.reshape(b.shape + (1,) * (a.dim() - b.dim()))
    return a, b


def op_add(a, b):
    a, b = _align(a, b)
    return a + b


def op_sub(a, b):
    a, b = _align(a, b)
    return a - b


def op_mul(a, b):
    a, b = _align(a, b)
    return a * b


def op_div(a, b):
    a, b = _align(a, b)
    return a / b


def op_pow(a, b):
    a, b = _align(a, b)
    return a**b


def op_subscript(x, index):
    """Integer indices ("i", k) and slices ("s", start, stop, step) of the per-example axes."""
    items = tuple(k[1] if k[0] == "i" else slice(*k[1:]) for k in index)
    return x[(slice(None), *items)]


def op_neg(a):
    return -a


def as_rows(x):
    """[B, ...] -> [B, n]; a per-example scalar [B] becomes [B, 1] (flatten(1) would fail)."""
    return x.reshape(x.shape[0], -1)


def op_index(scores, code):
    """JEM indexing logits[y]: the score of the one-hot coded category (differentiable in y)."""
    return (scores * code).sum(-1)


def op_lookup(table, *codes):
    """`T[a, b, ...]`: the entry of `table` at the categories of the one-hot `codes` (each
    [B, *sites, K_i]), per site. `table` is [B, K_1, ..., K_n] (one table for every site) or
    [B, *sites, K_1, ..., K_n]. Differentiable in the codes (GWG, gradient-drawn Gibbs)."""
    sites = codes[0].dim() - 2
    if table.dim() == len(codes) + 1:  # one table: broadcast it over the sites
        table = table.reshape(table.shape[0], *([1] * sites), *table.shape[1:])
    for code in reversed(codes):  # contract the table's last axis with the last code
        between = table.dim() - code.dim()
        code = code.reshape(*code.shape[:-1], *([1] * between), code.shape[-1])
        table = (table * code).sum(-1)
    return table


def code_values(codes: torch.Tensor, kind: str, categories: int | None, dtype=torch.float32):
    """Integer codes of a discrete variable -> its values as the energy takes them: a
    categorical's one-hot on a new last axis, a binary's 0/1 (of `dtype`)."""
    if kind == "categorical":
        return F.one_hot(codes, categories).to(dtype)
    return codes.to(dtype)


def probabilities_of_codes(codes: torch.Tensor, count: int) -> torch.Tensor:
    """Integer codes -> one-hot float vectors over `count` values (a binary's are 2): the
    distribution that puts all its mass on each code."""
    return F.one_hot(codes.long(), count).float()


def site_counts(table: dict, labels) -> list[int]:
    """The number of values of every site of the discrete variables `labels`, in order."""
    counts = []
    for name in labels:
        spec = table[name]
        counts += [2 if spec.kind == "binary" else spec.categories] * math.prod(spec.shape)
    return counts


def joint_codes(table: dict, labels, device=None) -> torch.Tensor:
    """[C, sites] every joint value of the discrete variables `labels`, one column per site, the
    first site most significant (the last variable's last site varies fastest)."""
    ranges = [range(count) for count in site_counts(table, labels)]
    return torch.tensor(list(itertools.product(*ranges)), device=device, dtype=torch.long)


def random_values(variables: dict, batch: int, generator: torch.Generator) -> dict:
    """A random batch of valid values of the variable table `{name: Var}`. Real values are
    N(0, 1) (uniform within bounds), discrete ones uniform."""
    values = {}
    for name, (kind, shape, categories, low, high) in variables.items():
        size = (batch, *shape)
        if kind == "real" and low is None:
            values[name] = torch.randn(size, generator=generator)
        elif kind == "real":
            values[name] = low + (high - low) * torch.rand(size, generator=generator)
        elif kind == "binary":
            values[name] = torch.randint(0, 2, size, generator=generator).float()
        else:
            code = torch.randint(0, categories, size, generator=generator)
            values[name] = code_values(code, kind, categories)
    return values


def finish(f, batch: int):
    """The energy as a [batch] tensor, whatever the result's per-example shape ([] or [1])."""
    if not isinstance(f, torch.Tensor):
        return torch.full((batch,), float(f))
    if f.dim() == 0:
        return f.expand(batch)
    return f.reshape(batch)
