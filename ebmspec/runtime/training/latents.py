"""Latent variables in an objective's data term: summed out exactly, or drawn by clamped chains.

In: the trainer (program, variable table, sampler table, settings, the batch's training rows) and
model-space data batches, which hold the observed variables only. Out: `LatentTerm`. With
`latents = exact` the data term is the free energy F(x) = log sum_h exp f(x, h) (`free`: every
joint value of h, or site by site where f is affine in h, `energy_facts.separable`), whose gradient
is exactly E_{p(h | x)} grad f(x, h). Otherwise `complete` fills a batch's latents with one draw of
a chain on p(h | x) (the observed variables clamped; missing labels are drawn by the same chain),
so f(x, h) on data is an unbiased estimate of that gradient: `fresh` starts each chain from the
init distributions and runs `steps` sweeps; `persistent` keeps one chain per training example and
continues it from where it stopped the last time the example was drawn (its state is part of the
checkpoint, so a resumed run continues bit for bit).
"""

from __future__ import annotations

import torch

from ebmspec import energy_facts
from ebmspec.runtime.model.enumeration import free_energy
from ebmspec.runtime.sampling.schedule import initial_values
from ebmspec.runtime.seeding import stream
from ebmspec.runtime.training import distributed
from ebmspec.runtime.training.negatives import impute


class LatentTerm:
    """How one objective's data term treats the latent variables (none: every method is the
    identity). `mode` is the objective's `latents` argument as the checker resolved it."""

    def __init__(self, trainer, mode: str | None) -> None:
        program = trainer.program
        self.names = tuple(v.name for v in program.variables if not v.observed)
        self.mode = mode if self.names else None
        if self.mode == "persistent" and trainer.ranks.world > 1:
            # Each process would keep (and checkpoint) only its own rows' chains.
            raise distributed.ShardingError(
                f"persistent latent chains live in one process; {trainer.ranks.world} "
                "processes were started",
                "train in one process, or with `latents = fresh` or `latents = exact`",
            )
        self.separable = energy_facts.separable(program.energy, self.names)
        self.table = trainer.table
        # persistent: {latent: [training examples, *shape]} chain states, made at first use
        self.chains: dict[str, torch.Tensor] | None = None

    @property
    def exact(self) -> bool:
        return self.mode == "exact"

    def free(self, model, values: dict, labels=()) -> torch.Tensor:
        """[B, C] log sum_h exp f at each of the C joint values of `labels` (C = 1 without)."""
        return free_energy(model, values, self.table, labels, self.names, self.separable)

    def data_energy(self, model, values: dict) -> torch.Tensor:
        """[B] the data term's energy: F(x) when exact, else f(x, h) at the drawn latents."""
        return self.free(model, values)[:, 0] if self.exact else model(values)

    def complete(self, trainer, values: dict, observed: dict, rows, generator, steps: int) -> dict:
        """`values` with missing labels imputed and, unless the term is exact, the latents drawn
        by a clamped chain of `steps` sweeps (from the chain state of each example in `rows`,
        when persistent; `rows` are the batch's training rows)."""
        if not observed and self.mode not in ("fresh", "persistent"):
            return values
        device = next(iter(values.values())).device
        start = None
        if self.mode == "persistent":
            if rows is None:
                raise ValueError("persistent latent chains need the batch's training rows")
            if self.chains is None:
                self.chains = row_chains(trainer, self.names, device)
            start = {name: chain[rows.to(chain.device)] for name, chain in self.chains.items()}
        drawn = impute(
            trainer.model, trainer.sampler, trainer.table, values, observed, steps, generator,
            trainer.stats, start,
        )  # fmt: skip
        if start is not None:
            for name, chain in self.chains.items():
                chain[rows.to(chain.device)] = drawn[name]
        return drawn

    def state(self) -> dict[str, torch.Tensor] | None:
        """The persistent chain states (checkpointed beside the energy), or None."""
        return None if self.chains is None else {n: t.clone() for n, t in self.chains.items()}

    def restore(self, tensors: dict) -> None:
        self.chains = {name: tensors[name].clone() for name in self.names} if tensors else None


def row_chains(trainer, names, device) -> dict[str, torch.Tensor]:
    """One chain state of the variables `names` per training example, drawn from their init
    distributions with a stream of its own (the same on a resumed run, which restores them
    instead): persistent latent chains, and `cll`'s."""
    count = len(trainer.dataset.train[next(iter(trainer.dataset.train))])
    generator = stream(trainer.s.seed, "latent_chains", device=device)
    inits = [
        (tuple(n for n in chosen if n in names), dist, params)
        for chosen, dist, params in trainer.sampler["inits"]
    ]
    table = {name: trainer.table[name] for name in names}
    return initial_values(inits, table, count, generator, trainer.stats, device)
