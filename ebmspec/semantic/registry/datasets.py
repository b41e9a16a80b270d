"""Datasets (`data ...`) and their transforms.

In: nothing (transforms are static; dataset rows are declared by the runtime datasets).
Out: the rows the checker looks names up in.
"""

from __future__ import annotations

from ebmspec.semantic.registry.signatures import Param as P
from ebmspec.semantic.registry.signatures import Signature, table

# Datasets (`data ...`): declared by their runtime modules, one per file of `ebmspec.runtime.data`
# (its `SIGNATURE`, with its `fields` function in `extra`), when `ebmspec.api` imports that package.
DATASETS: dict[str, Signature] = {}
TRANSFORMS = table(
    Signature("dequantize", (P("levels", "posint", 256),), "(x * (levels - 1) + u) / levels"),
    Signature("logit", (P("eps", "posfloat", 1e-6),), "log(x' / (1 - x')), x' = x(1-2eps)+eps"),
    Signature("standardize", (), "subtract the training mean, divide by the training std"),
    Signature("noise", (P("std", "posfloat"),), "add N(0, std^2) noise"),
    Signature(
        "binarize",
        (P("threshold", "prob", 0.5), P("stochastic", "bool", False)),
        "values in [0, 1] -> 0/1 once, at load (the variable is declared `binary`): 1 where the "
        "value exceeds `threshold`; `stochastic = true`: 1 with probability the value, drawn "
        "with the run's seed (fixed for the run, the same on every resume); the only step of "
        "its variable",
    ),
)
