"""Short-run contrastive divergence (`cd`): pcd's loss, with negatives from fresh chains.

In and out as `pcd`: every iteration starts `batch` chains and runs `steps` sweeps; nothing is
kept between iterations. `start = init` (default): from the init distributions (short-run MCMC,
Nijkamp et al. 2019); `start = data`: from the batch's own examples (Hinton's CD-k: the observed
variables at the data, latent ones from the init distribution, redrawn by the first sweep).
"""

from __future__ import annotations

from ebmspec.runtime.training.objectives.pcd import PcdObjective
from ebmspec.semantic.registry.signatures import Param as P
from ebmspec.semantic.registry.signatures import Signature
from ebmspec.semantic.registry.training import CHAIN_ARGS, LATENT_ARGS

SIGNATURE = Signature(
    "cd",
    (*CHAIN_ARGS, *LATENT_ARGS, P("start", "choice", "init", choices=("init", "data"))),
    "short-run contrastive divergence from the init distributions, or with `start = data` from "
    "the batch's examples (Hinton's CD-k); latent variables as `pcd`",
)


class CdObjective(PcdObjective):
    name = "cd"
    negatives = "fresh"

    @property
    def from_data(self) -> bool:
        return self.args.get("start") == "data"
