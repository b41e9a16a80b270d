"""Named random streams: one generator per purpose of one seed.

In: a seed (the run's `train.seed`, or `--seed` of `sample` / `eval`), a stream name from
`STREAMS`, and optional integers that split a stream further (a rollback count, a run index).
Out: an integer seed, or a `torch.Generator` seeded with it. Two purposes never share draws, and
adding a purpose never shifts another's numbers, because each name has its own fixed id fed to a
`numpy.random.SeedSequence` together with the seed (instead of offsets such as `seed + 1`, which
collide: seed 1's data stream was seed 0's chain stream). A checkpoint saves each generator's
state, so a resumed run continues every stream exactly.
"""

from __future__ import annotations

import numpy as np
import torch

# Fixed ids: never renumber one (that would change every number drawn from it); add new names at
# the end. The three dataset streams keep the ids the loaders have always used.
STREAMS = {
    "dataset_train": 0,  # procedural datasets: the training examples
    "dataset_test": 1,  # procedural datasets: the test examples
    "dataset_split": 2,  # file datasets: the shuffle that picks the test rows
    "batches": 3,  # training batches and their dequantisation noise
    "chains": 4,  # training chains (replay buffer, re-initialisation, kernels); + rollback count
    "data_stats": 5,  # the batch the run's data statistics are measured on
    "test_noise": 6,  # random transform steps (dequantisation) applied to the test set
    "predict_samples": 7,  # sample-based prediction; + run index
    "generation": 8,  # conditional samples of the evaluation report
    "ood_sets": 9,  # generated out-of-distribution sets
    "labelled_rows": 10,  # semi-supervised: which training labels are kept
    "generator_init": 11,  # VERA's generator network's initial weights
    "judge": 12,  # bench/conditional_generation.py: the judge classifier's batches
    "latent_chains": 13,  # persistent latent chains: their first state per training example
    "binarize": 14,  # stochastic binarisation of a dataset (once, at load)
    "ais": 15,  # annealed importance sampling (base draws, kernels, latents of the reverse start)
}


def stream_seed(seed: int, name: str, *split: int) -> int:
    """A 32-bit seed for stream `name` of `seed` (and of each integer in `split`)."""
    # SeedSequence pads its entropy with zeros, so [s, id, 0] is [s, id]: the split's length comes
    # first, which keeps unsplit streams at their old seeds and tells split (0,) from no split.
    tail = (len(split), *(int(s) & 0xFFFFFFFF for s in split)) if split else ()
    words = [int(seed) & 0xFFFFFFFF, STREAMS[name], *tail]
    return int(np.random.SeedSequence(words).generate_state(1)[0])


def stream(seed: int, name: str, *split: int, device=None) -> torch.Generator:
    """A generator (on `device`, default CPU) seeded with `stream_seed(seed, name, *split)`."""
    generator = torch.Generator() if device is None else torch.Generator(device=device)
    return generator.manual_seed(stream_seed(seed, name, *split))
