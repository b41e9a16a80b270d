"""Variables, argument values by registry type, and the data files of generated specs.

In: Hypothesis `draw` functions and registry `Param`s. Out: `Var` (one declared variable, its
`.ebm` declaration and how the energy reads it), `argument(draw, param)` (a small, legal value of
a registry type written as spec text, or None when the type cannot be generated), and the data a
spec trains on: `csv_text` (a header row and rows of the observed variables, as `data csv(...)`
reads them) and `npz_arrays` (the same rows as `data npz(...)` reads them).
"""

from __future__ import annotations

import math
import random
from dataclasses import dataclass

import numpy as np
from hypothesis import strategies as st

from ebmspec.semantic import registry as reg


@dataclass(frozen=True)
class Var:
    """One declared variable. `bounds` only for reals; `categories` only for categoricals."""

    name: str
    kind: str  # real | binary | categorical
    shape: tuple[int, ...]
    categories: int | None = None
    bounds: tuple[float, float] | None = None
    latent: bool = False

    @property
    def sites(self) -> int:
        return math.prod(self.shape)

    @property
    def discrete(self) -> bool:
        return self.kind != "real"

    @property
    def cardinality(self) -> int:
        return (self.categories or 2) ** self.sites if self.discrete else 0

    def declaration(self) -> str:
        dims = f"[{', '.join(map(str, self.shape))}]" if self.shape else ""
        if self.kind == "categorical":
            text = f"categorical({self.categories}){dims}"
        else:
            text = f"{self.kind}{dims}"
        if self.bounds is not None:
            text += f" in [{self.bounds[0]:g}, {self.bounds[1]:g}]"
        return f"{self.name} : {text}" + (" latent" if self.latent else "")

    def width(self) -> int:
        """Length of the vector `code` reads it as (one-hot for categoricals)."""
        return self.sites * (self.categories if self.kind == "categorical" else 1)

    def code(self) -> str:
        """The variable as a vector expression of `width()` elements."""
        if self.kind == "categorical":
            return f"onehot({self.name})"
        return self.name if len(self.shape) == 1 else f"flatten({self.name})"


@st.composite
def variable(draw, name: str, kind: str | None = None, latent: bool = False) -> Var:
    """Any kind and shape (every side <= 4): bounded or unbounded reals of rank 0-3, binary and
    categorical scalars and arrays."""
    kind = kind or draw(st.sampled_from(["real", "real", "binary", "categorical"]))
    rank = draw(st.sampled_from([1, 1, 1, 2, 3] if kind == "real" else [0, 1, 1]))
    if kind == "binary":
        rank = max(rank, 1)  # a binary variable is declared with its sites
    shape = tuple(draw(st.integers(1, 4)) for _ in range(rank))
    if rank == 3:
        shape = (draw(st.sampled_from([1, 2])), draw(st.integers(2, 4)), draw(st.integers(2, 4)))
    categories = draw(st.integers(2, 4)) if kind == "categorical" else None
    bounds = None
    if kind == "real" and draw(st.booleans()):
        low = draw(st.sampled_from([-3.0, -2.0, -1.0, 0.0]))
        bounds = (low, low + draw(st.sampled_from([1.0, 2.0, 4.0])))
    return Var(name, kind, shape, categories, bounds, latent)


def fixed_variable(name: str, field: tuple) -> Var:
    """The variable a dataset's `fields` row provides: (kind, shape, categories)."""
    kind, shape, categories = field
    return Var(name, kind, tuple(shape), categories)


SMALL_FLOATS = (0.01, 0.05, 0.1, 0.5)


def argument(draw, param: reg.Param) -> str | None:
    """A small legal value of `param`'s type, as spec text; None when this type is not generated
    here (tensor, variable, sampler, objective and optimizer arguments are built by the caller)."""
    kind = param.type.rstrip("?")
    if param.choices:
        if kind == "choices":
            picked = draw(st.lists(st.sampled_from(param.choices), min_size=1, max_size=2))
            return "[" + ", ".join(picked) + "]"
        return draw(st.sampled_from(param.choices))
    values = {
        "posint": lambda: str(draw(st.integers(1, 2))),
        "nonneg_int": lambda: str(draw(st.integers(0, 2))),
        "int": lambda: str(draw(st.integers(-1, 1))),
        "posfloat": lambda: f"{draw(st.sampled_from(SMALL_FLOATS)):g}",
        "nonneg_float": lambda: f"{draw(st.sampled_from((0.0, *SMALL_FLOATS))):g}",
        "float": lambda: f"{draw(st.sampled_from((-0.5, 0.0, 0.5, 1.0))):g}",
        "prob": lambda: f"{draw(st.sampled_from((0.0, 0.1, 0.5, 0.9))):g}",
        "bool": lambda: draw(st.sampled_from(["true", "false"])),
        "activation": lambda: draw(st.sampled_from(reg.ACTIVATIONS)),
        "posints": lambda: "[" + ", ".join(map(str, draw(_sizes))) + "]",
        "nonneg_ints": lambda: "[" + ", ".join(map(str, draw(_sizes))) + "]",
        "floats": lambda: "[0.9, 0.99]",
        "betas": lambda: "[0.9, 0.99]",
    }
    make = values.get(kind)
    return None if make is None else make()


_sizes = st.lists(st.integers(1, 8), min_size=1, max_size=2)


def optional_arguments(draw, signature: reg.Signature, skip: tuple[str, ...] = ()) -> list[str]:
    """`name = value` for a random subset of the signature's optional, generable arguments."""
    out = []
    for param in signature.params:
        if param.positional or param.default is reg.REQUIRED or param.name in skip:
            continue
        if draw(st.booleans()):
            value = argument(draw, param)
            if value is not None:
                out.append(f"{param.name} = {value}")
    return out


def call(name: str, arguments: list[str]) -> str:
    return f"{name}({', '.join(arguments)})" if arguments else name


def row_values(var: Var, rng: random.Random) -> list[float]:
    """One example's values of `var`, flattened (categoricals as codes 0..K-1)."""
    if var.kind == "categorical":
        return [rng.randrange(var.categories) for _ in range(var.sites)]
    if var.kind == "binary":
        return [rng.randrange(2) for _ in range(var.sites)]
    if var.bounds is not None:
        low, high = var.bounds
        pad = (high - low) / 10  # strictly inside the box
        return [round(rng.uniform(low + pad, high - pad), 3) for _ in range(var.sites)]
    return [round(rng.gauss(0.0, 1.0), 3) for _ in range(var.sites)]


def csv_text(variables: list[Var], rows: int, seed: int) -> str:
    """A header (`v` for a single site, `v0..v{n-1}` otherwise) and `rows` examples."""
    observed = [v for v in variables if not v.latent]
    header = []
    for v in observed:
        header += (
            [v.name] if v.sites == 1 and not v.shape else [f"{v.name}{i}" for i in range(v.sites)]
        )
    rng = random.Random(seed)
    lines = [",".join(header)]
    for _ in range(rows):
        cells = []
        for v in observed:
            cells += [f"{value:g}" for value in row_values(v, rng)]
        lines.append(",".join(cells))
    return "\n".join(lines) + "\n"


def npz_arrays(variables: list[Var], rows: int, seed: int) -> dict[str, np.ndarray]:
    """One array per observed variable, rows first (reals float32, discrete codes int64)."""
    rng = random.Random(seed)
    arrays = {}
    for v in variables:
        if v.latent:
            continue
        values = [row_values(v, rng) for _ in range(rows)]
        dtype = np.float32 if v.kind == "real" else np.int64
        arrays[v.name] = np.asarray(values, dtype=dtype).reshape(rows, *v.shape)
    return arrays
