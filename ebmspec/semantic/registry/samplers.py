"""Sampler kernels, init distributions and sampler settings.

In: nothing (static tables). Out: the rows the checker looks names up in.
"""

from __future__ import annotations

from ebmspec.semantic.registry.signatures import Param as P
from ebmspec.semantic.registry.signatures import Signature, table

CONTINUOUS = ("real",)
DISCRETE = ("binary", "categorical")
# Kernel traits for the sweep planner (`passes.plan_sweep`): what a kernel `reads` at its entry
# point (`grad` = f and gradients, `f`, or `none`) and what it `leaves` known about the new point
# (`full`, `f`, `none`). tests/passes/test_plan_sweep.py checks them against the runtime classes.
KERNELS = table(
    Signature(
        "langevin",
        (P("step", "posfloat"), P("noise", "nonneg_float?", None)),
        "x <- x + step * grad f + noise * N(0, I); noise defaults to sqrt(2 step)",
        domains=CONTINUOUS,
        extra={"reads": "grad", "leaves": "none"},
    ),
    Signature(
        "mala",
        (P("step", "posfloat"), P("adapt", "nonneg_int", 0), P("target", "prob", 0.574)),
        "Metropolis-adjusted Langevin with drift step and noise sqrt(2 step); `adapt = n`: the "
        "step is tuned by dual averaging towards acceptance `target` over the block's first n "
        "transitions, then frozen (set n within the warm-up you discard)",
        domains=CONTINUOUS,
        extra={"reads": "grad", "leaves": "full"},
    ),
    Signature(
        "hmc",
        (
            P("step", "posfloat"),
            P("leapfrog", "posint", 10),
            P("adapt", "nonneg_int", 0),
            P("target", "prob", 0.65),
        ),
        "Hamiltonian Monte Carlo with `leapfrog` steps of size `step`; `adapt = n`: the step is "
        "tuned by dual averaging towards acceptance `target` over the first n transitions, then "
        "frozen",
        domains=CONTINUOUS,
        extra={"reads": "grad", "leaves": "full"},
    ),
    Signature(
        "gwg",
        (P("temperature", "posfloat", 2.0), P("flips", "posint", 1)),
        "Gibbs-With-Gradients (locally balanced proposal, reverse term included)",
        domains=DISCRETE,
        extra={"reads": "grad", "leaves": "full"},
    ),
    Signature(
        "dmala",
        (P("step", "posfloat", 1.0),),
        "discrete Metropolis-adjusted Langevin: every site moves in parallel from a gradient "
        "proposal (a change costs 1 / step), one Metropolis-Hastings test",
        domains=DISCRETE,
        extra={"reads": "grad", "leaves": "full"},
    ),
    Signature(
        "gibbs",
        (P("joint", "bool", False),),
        "exact Gibbs: one systematic scan over the sites, each drawn from its K values; "
        "`joint = true` draws the whole block from its joint conditional",
        domains=DISCRETE,
        extra={"reads": "none", "leaves": "none"},
    ),
    Signature(
        "jump",
        (P("gibbs", "bool", False),),
        "joint move of a block's labels and position: every joint label value k, with the real "
        "variables translated by the data's mean difference m_k - m_c, scored at once; "
        "Metropolised Gibbs over those points (`gibbs = true`: plain Gibbs). Mixes between "
        "modes that block moves cannot leave",
        domains=CONTINUOUS + DISCRETE,
        extra={"reads": "none", "leaves": "f", "mixed": True},
    ),
    Signature(
        "metropolis",
        (P("scale", "posfloat", 0.1),),
        "random-walk Metropolis (Gaussian for real, uniform single-site for discrete)",
        domains=CONTINUOUS + DISCRETE,
        extra={"reads": "f", "leaves": "f"},
    ),
)
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

SAMPLER_SETTINGS = {"sweeps": P("sweeps", "posint", 1)}
