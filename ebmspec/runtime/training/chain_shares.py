"""One share of a run's negative chains: its replay buffer(s) and its chain generator.

In: the objective's `Negatives` (joint chains, and for `jem(generative = both)` the label-keeping
ones), the share's index among `total` shares, the run's seed. Out: the share's negatives for its
slice of each batch, and its checkpoint tensors. A one-share run (every run of one process) keeps
the checkpoint keys and random streams it always had: `buffer/...`, `kept_buffer/...`,
`rng/chain`, stream "chains"; share i of N is `share{i}/...` and stream ("chains", i, N).
See runtime/training/distributed.py for how shares map onto processes.
"""

from __future__ import annotations

import torch

from ebmspec.runtime.io import checkpoint as ckpt
from ebmspec.runtime.seeding import stream, stream_seed
from ebmspec.runtime.training.negatives import Negatives


class Share:
    """Share `index` of `total`: chains (None for objectives without MCMC) and their generator."""

    def __init__(
        self,
        index: int,
        total: int,
        negatives: Negatives | None,
        kept_negatives: Negatives | None,
        seed: int,
        device: str,
    ):
        self.index, self.total = index, total
        self.negatives, self.kept_negatives = negatives, kept_negatives
        self.split = () if total == 1 else (index, total)
        self.chain_gen = stream(seed, "chains", *self.split, device=device)

    def key(self, name: str) -> str:
        return name if self.total == 1 else f"share{self.index}/{name}"

    @property
    def chain_sets(self) -> list:
        """(checkpoint prefix, Negatives) of every set of this share's negative chains."""
        sets = [(self.key("buffer"), self.negatives)] if self.negatives is not None else []
        if self.kept_negatives is not None:
            sets.append((self.key("kept_buffer"), self.kept_negatives))
        return sets

    def start(self, stats: dict, device: str) -> None:
        for _, chains in self.chain_sets:
            chains.start(self.chain_gen, stats, device)

    def draw(self, model, batch: int, stats: dict, device: str, start: dict | None = None):
        """(joint or label-keeping chains' samples, the label-keeping set of `both` or None,
        acceptance rate per block) after this iteration's sweeps on `batch` chains; `start`
        (fresh chains only): values the chains start from instead of their init draws."""
        negative, chains = self.negatives.draw(model, batch, self.chain_gen, stats, device, start)
        rates = self.negatives.rates(chains)
        kept = None
        if self.kept_negatives is not None:
            kept, kept_chains = self.kept_negatives.draw(
                model, batch, self.chain_gen, stats, device
            )
            rates = rates + self.kept_negatives.rates(kept_chains)
        return negative, kept, rates

    def state(self) -> dict[str, torch.Tensor]:
        tensors = {}
        for prefix, chains in self.chain_sets:
            if chains.buffer is not None:
                tensors.update(ckpt.with_prefix(prefix, chains.buffer))
            if chains.hot is not None:  # tempered chains' replicas at b < 1
                tensors.update(ckpt.with_prefix(f"{prefix}_hot", chains.hot))
        tensors[self.key("rng/chain")] = self.chain_gen.get_state()
        return tensors

    def restore(self, tensors: dict, device: str) -> None:
        for prefix, chains in self.chain_sets:
            buffer = ckpt.under(prefix, tensors)
            if buffer:
                # A run saved before its chains were collapsed also kept the summed-out labels.
                chains.buffer = {k: v.to(device) for k, v in buffer.items() if k in chains.names}
            hot = ckpt.under(f"{prefix}_hot", tensors)
            chains.hot = {k: v.to(device) for k, v in hot.items()} if hot else None
        self.chain_gen.set_state(tensors[self.key("rng/chain")])

    def reseed(self, seed: int, rollbacks: int) -> None:
        """A different chain seed after a rollback: replaying the same random numbers tends to
        replay the failure."""
        self.chain_gen.manual_seed(stream_seed(seed, "chains", *self.split, rollbacks))
