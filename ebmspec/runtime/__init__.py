"""Runtime: a checked IR program in; energies, chains, trained runs and evaluations out.

One folder per stage, each importing only the stages before it (`tests/test_imports.py`):

* `io/`, `seeding.py`, `allocator.py`: files (checkpoints, weights, the run reader), named random
  streams, the process's allocator;
* `model/`: the energy lowered to a `torch.nn.Module`, its ops and blocks, label enumeration;
* `sampling/`: kernels, schedules, captured sweeps, clamped values, convergence diagnostics;
* `data/`: datasets, batches in model space, transforms;
* `training/`: the trainer and its parts (objectives, negative chains, checkpoints, log,
  signals, data-parallel shares);
* `evaluation/`: predictions, the `evaluate` block's metrics, generation quality, OOD;
* `plots/`: every figure, drawn with matplotlib (density, reliability, OOD histograms, sample
  grids, training curves; PNG or PDF).
"""
