"""Sampler kernels, init distributions and sampler settings.

In: nothing (init distributions and settings are static; kernel rows are declared by the
runtime kernels). Out: the rows the checker looks names up in.
"""

from __future__ import annotations

from ebmspec.semantic.registry.signatures import CONTINUOUS, DISCRETE, Signature, table
from ebmspec.semantic.registry.signatures import Param as P

# Kernels (`update VARS with ...`): declared by their runtime modules, one per file of
# `ebmspec.runtime.sampling.kernels` (its `SIGNATURE`), when `ebmspec.api` imports that package.
# Each row's `extra` holds the planner's traits, read off the kernel class: what it `reads` at its
# entry point (`grad` = f and gradients, `f`, `none`) and what it `leaves` known (`full`, `f`,
# `none`).
KERNELS: dict[str, Signature] = {}
# Kernels for variables no block updates: one joint block for all discrete ones, one per real one.
DEFAULT_KERNEL = {"discrete": ("gwg", {}), "real": ("mala", {"step": 0.01})}

INIT_DISTS = table(
    Signature(
        "uniform",
        (),
        "uniform over the values (real: needs bounds `in [a, b]`)",
        domains=CONTINUOUS + DISCRETE,
    ),
    Signature(
        "uniform_data_range",
        (),
        "per-dimension U(min, max) of one data batch",
        domains=CONTINUOUS,
        extra={"needs_data": True},
    ),
    Signature(
        "data_frequency",
        (),
        "categorical with the value frequencies of one data batch",
        domains=DISCRETE,
        extra={"needs_data": True},
    ),
    Signature(
        "normal",
        (P("mean", "float", 0.0), P("std", "posfloat", 1.0)),
        "N(mean, std^2)",
        domains=CONTINUOUS,
    ),
    Signature(
        "normal_data",
        (),
        "N(batch mean, batch std^2) per dimension of one data batch",
        domains=CONTINUOUS,
        extra={"needs_data": True},
    ),
)

SAMPLER_SETTINGS = {
    "sweeps": P("sweeps", "posint", 1),
    # Parallel tempering: inverse temperatures 1 = b_0 > b_1 > ... > 0 (sampling/tempering.py).
    "temperatures": P("temperatures", "floats", ()),
}
