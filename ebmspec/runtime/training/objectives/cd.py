"""Short-run contrastive divergence (`cd`): pcd's loss, with negatives from fresh chains.

In and out as `pcd`: every iteration starts `batch` chains from the init distributions and runs
`steps` sweeps; nothing is kept between iterations.
"""

from __future__ import annotations

from ebmspec.runtime.training.objectives.pcd import PcdObjective
from ebmspec.semantic.registry.signatures import Signature
from ebmspec.semantic.registry.training import CHAIN_ARGS, LATENT_ARGS

SIGNATURE = Signature(
    "cd",
    CHAIN_ARGS + LATENT_ARGS,
    "short-run contrastive divergence from the init distributions; latent variables as `pcd`",
)


class CdObjective(PcdObjective):
    name = "cd"
    negatives = "fresh"
