"""The registry of building blocks a spec may name, with typed signatures.

In: nothing (static tables), plus the rows the runtime's kernel, dataset and energy-block modules
declare for themselves (`declare`) when `ebmspec.api` imports them. Out: `Signature`s looked up
by the checker for energy blocks, kernels, init distributions, objectives, optimizers, datasets,
transforms and evaluation methods. A name not in these tables is an error at check time: the
language is closed. One module per kind of block (`blocks`, `samplers`, `training`, `datasets`,
`evaluation`), the types in `signatures`.
"""

from ebmspec.semantic.registry.blocks import ENERGY_BLOCKS
from ebmspec.semantic.registry.datasets import DATASETS, TRANSFORMS
from ebmspec.semantic.registry.evaluation import PREDICT_METHODS, REPORTS
from ebmspec.semantic.registry.samplers import (
    CONTINUOUS,
    DEFAULT_KERNEL,
    DISCRETE,
    INIT_DISTS,
    KERNELS,
    SAMPLER_SETTINGS,
)
from ebmspec.semantic.registry.signatures import (
    ACTIVATIONS,
    REQUIRED,
    Param,
    Signature,
    declare,
    table,
)
from ebmspec.semantic.registry.training import (
    MAX_ENUMERABLE,
    OBJECTIVES,
    OPTIMIZERS,
    TRAIN_SETTINGS,
)

__all__ = [
    "ACTIVATIONS",
    "CONTINUOUS",
    "DATASETS",
    "DEFAULT_KERNEL",
    "DISCRETE",
    "ENERGY_BLOCKS",
    "INIT_DISTS",
    "KERNELS",
    "MAX_ENUMERABLE",
    "OBJECTIVES",
    "OPTIMIZERS",
    "PREDICT_METHODS",
    "REPORTS",
    "REQUIRED",
    "SAMPLER_SETTINGS",
    "TRAIN_SETTINGS",
    "TRANSFORMS",
    "Param",
    "Signature",
    "declare",
    "require_declared",
    "table",
]


def require_declared() -> None:
    """Kernels, datasets, energy blocks and objectives declare their own rows
    (`runtime.sampling.kernels`, `runtime.data`, `runtime.model.blocks`,
    `runtime.training.objectives`, imported by `ebmspec.api`); checking a spec before they have
    would call every kernel name unknown."""
    if not KERNELS or not DATASETS or not ENERGY_BLOCKS or not OBJECTIVES:
        raise AssertionError(
            "the registry's kernels, datasets, energy blocks and objectives are not declared: "
            "compile specs through `ebmspec.api`, which imports the runtime modules that declare "
            "them"
        )
