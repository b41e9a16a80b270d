"""Multi-process training on PyTorch's own engine: torchrun's process group, data-parallel shares
of the negative chains, and the few collectives the trainer needs.

In: the environment torchrun sets (`WORLD_SIZE`, `RANK`, `LOCAL_RANK`, `MASTER_ADDR/PORT`).
Out: `Ranks` - which process this is and which *shares* of the run it computes - and helpers
that are no-ops in a one-process run.

A run of N shares splits each global batch of B examples into N slices of B / N and the replay
buffer into N shares, each with its own chain generator (stream "chains", share, N). Every
process draws the same global batch (the batch stream is shared, so transforms see the same
random numbers as in one process) and keeps the slices of its shares; each share's chains run
only on that share's process; DistributedDataParallel averages the gradients of the per-share
mean losses, which is the gradient of the global mean loss. One process can run every share of
an N-share run (`Ranks.all_shares(N)`): same batch, buffers and streams, so its parameters
follow an N-process run up to floating-point summation order
(tests/runtime/training/test_distributed.py compares them). Checkpoints hold every share's buffer
and generator under `share{i}/`, written by rank 0; a run resumes on the number of processes it was
started with.
"""

from __future__ import annotations

import datetime
import os
from dataclasses import dataclass

import torch
import torch.distributed as dist

# Periodic evaluation and checkpoint writing run on rank 0 while the others wait in their next
# collective; gloo's default 30-minute timeout would kill a job whose evaluation is slow.
TIMEOUT = datetime.timedelta(hours=6)


@dataclass(frozen=True)
class Ranks:
    """This process (`rank` of `world`) and the shares (of `total`) whose chains it runs."""

    rank: int = 0
    world: int = 1
    shares: tuple[int, ...] = (0,)
    total: int = 1

    @property
    def lead(self) -> bool:
        """Rank 0 writes the run's files, evaluates and drives the progress display."""
        return self.rank == 0

    @property
    def sharded(self) -> bool:
        return self.total > 1

    @classmethod
    def all_shares(cls, total: int) -> Ranks:
        """One process computing every share of a `total`-share run."""
        return cls(0, 1, tuple(range(total)), total)


def launched() -> bool:
    """True in a process torchrun started with more than one worker."""
    return int(os.environ.get("WORLD_SIZE", "1")) > 1


def start(device: str) -> tuple[Ranks, str]:
    """Join torchrun's process group (gloo on CPU, NCCL on CUDA); (ranks, this rank's device)."""
    if not launched():
        return Ranks(), device
    rank, world = int(os.environ["RANK"]), int(os.environ["WORLD_SIZE"])
    if device.startswith("cuda"):
        local = int(os.environ.get("LOCAL_RANK", "0"))
        device = f"cuda:{local}"
        torch.cuda.set_device(local)
    if not dist.is_initialized():
        backend = "nccl" if device.startswith("cuda") else "gloo"
        dist.init_process_group(backend, rank=rank, world_size=world, timeout=TIMEOUT)
    return Ranks(rank, world, (rank,), world), device


def finish() -> None:
    """Leave the process group; the barrier first keeps gloo from aborting a rank that exits
    while another still talks to it ("terminate called without an active exception")."""
    if dist.is_initialized():
        dist.barrier()
        dist.destroy_process_group()


def wrap(model: torch.nn.Module, ranks: Ranks, device: str) -> torch.nn.Module | None:
    """The loss module DistributedDataParallel drives (None in one process): `Loss(model)` called
    with a function of the energy module, so each iteration's whole loss - data and negative
    terms - is one forward and one backward of DDP. The chains call the bare module: their
    gradients are with respect to the samples and must not be averaged."""
    if ranks.world == 1:
        return None
    from torch.nn.parallel import DistributedDataParallel

    ids = [torch.device(device).index] if device.startswith("cuda") else None
    # broadcast_buffers=False: energies keep no running buffers, and every rank starts from the
    # same seed or checkpoint anyway.
    return DistributedDataParallel(Loss(model), device_ids=ids, broadcast_buffers=False)


class Loss(torch.nn.Module):
    """`forward(compute)` = `compute(energy)`: the loss of one iteration as a module call."""

    def __init__(self, energy: torch.nn.Module):
        super().__init__()
        self.energy = energy

    def forward(self, compute):
        return compute(self.energy)


def mean(values: torch.Tensor, ranks: Ranks) -> torch.Tensor:
    """The element-wise mean of `values` over the processes (one all-reduce)."""
    if ranks.world == 1:
        return values
    values = values.clone()
    dist.all_reduce(values)
    return values / ranks.world


def gather(local: dict, ranks: Ranks) -> dict:
    """Rank 0: the union of every rank's `local` dict (tensors moved to the CPU); elsewhere
    `local`. Every rank must call it (it is a collective)."""
    if ranks.world == 1:
        return local
    local = {key: value.detach().cpu() for key, value in local.items()}
    parts: list = [None] * ranks.world
    dist.all_gather_object(parts, local)
    merged: dict = {}
    for part in parts:
        merged.update(part)
    return merged if ranks.lead else local


def share_out(value, ranks: Ranks):
    """Rank 0's `value` on every rank (a collective; `value` is ignored elsewhere)."""
    if ranks.world == 1:
        return value
    box = [value]
    dist.broadcast_object_list(box, src=0)
    return box[0]


def barrier(ranks: Ranks) -> None:
    if ranks.world > 1:
        dist.barrier()


def share_slice(total_batch: int, ranks: Ranks) -> slice:
    """The rows of a global batch that this process's shares own (shares are contiguous)."""
    per = total_batch // ranks.total
    return slice(ranks.shares[0] * per, (ranks.shares[-1] + 1) * per)


class ShardingError(Exception):
    """A run that cannot be split over this many processes (a user error: `message`, `help`)."""

    def __init__(self, message: str, help: str):
        super().__init__(message)
        self.message, self.help = message, help


def check(settings, ranks: Ranks, shardable: tuple[str, ...]) -> None:
    """Refuse, before any work, a run whose objective or batch does not split into `ranks.total`
    shares; `shardable` names the objectives that split (`objectives.SHARDABLE`)."""
    if not ranks.sharded:
        return
    n = ranks.total
    if settings.objective not in shardable or settings.labels_per_class:
        what = "semi-supervised training" if settings.labels_per_class else settings.objective
        raise ShardingError(
            f"{what} runs in one process only; {n} processes were started",
            f"train it without torchrun / --nproc (several processes run "
            f"{', '.join(shardable)} with all labels)",
        )
    if settings.batch % n:
        raise ShardingError(
            f"train.batch = {settings.batch} does not split into {n} equal per-process batches",
            f"use a batch that is a multiple of {n}, or another number of processes",
        )


def check_shares(meta: dict, ranks: Ranks) -> None:
    """A checkpoint resumes on the number of processes (shares) that wrote it."""
    shares = int(meta.get("shares", 1))
    if shares != ranks.total:
        how = f"`--nproc {shares}`" if shares > 1 else "one process (no --nproc)"
        raise ShardingError(
            f"the checkpoint of iteration {meta['iteration']} was written by a run of "
            f"{shares} process(es); this one has {ranks.total}",
            f"resume it with {how}: the replay buffer and chain streams are split per process",
        )


def rows(total: int, unit: int, ranks: Ranks) -> tuple[int, int]:
    """This process's rows [first, last) of `total`, split in whole chunks of `unit` rows, so a
    computation that draws stream i for chunk i draws the same numbers as in one process."""
    if ranks.world == 1:
        return 0, total
    chunks = -(-total // unit)
    first = chunks * ranks.rank // ranks.world
    last = chunks * (ranks.rank + 1) // ranks.world
    return min(first * unit, total), min(last * unit, total)


def gather_rows(parts: dict | None, ranks: Ranks) -> dict | None:
    """`{name: tensor}` with every process's rows concatenated in rank order, on every process
    (a collective); each process passes its own rows of the same names, or None for none."""
    if ranks.world == 1:
        return parts
    local = None if parts is None else {name: value.cpu() for name, value in parts.items()}
    gathered: list = [None] * ranks.world
    dist.all_gather_object(gathered, local)
    present = [part for part in gathered if part is not None]
    return {name: torch.cat([part[name] for part in present]) for name in present[0]}
