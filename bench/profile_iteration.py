"""Where one training iteration's time goes: a torch.profiler breakdown for any spec.

In: a spec, its `--profile` and `--set key=value` settings (as `ebmspec train` applies them).
Out: the mean wall time of one iteration over `--iterations` profiled iterations (after
`--warmup` unprofiled ones), split into the trainer's parts, and the top operators:

* data: drawing the batch and encoding it (transforms, one-hot);
* sampler: the negative chains' sweeps (`Negatives.draw`, the buffer's reads and writes included);
* loss forward: the objective's energy evaluations on data and negatives;
* backward: `loss.backward()`;
* optimiser: Adam's step, the EMA update, the learning-rate schedule;
* other: what is left of the iteration (the divergence check's one synchronisation, Python).

Each part's row also gives the time spent inside torch operators (the profiler's self CPU time
of its `aten::` events) and the rest, the Python and dispatch overhead around them, and the
number of host synchronisations (`aten::item` / `aten::_local_scalar_dense`).

Run: `python bench/profile_iteration.py specs/mnist_jem.ebm --profile cpu [--threads 1]`
(toy: `specs/toy_joint.ebm --profile cpu`, dSprites: `specs/dsprites_joint.ebm --profile cpu`).
The numbers in docs/pages/performance.md come from it.
"""

from __future__ import annotations

import argparse
import contextlib
import os
import tempfile
import time
from pathlib import Path

import torch
from torch.profiler import ProfilerActivity, profile, record_function

from ebmspec.api import compile_file
from ebmspec.runtime.data import load_dataset
from ebmspec.runtime.training import negatives
from ebmspec.runtime.training import trainer as trainer_module
from ebmspec.runtime.training.trainer import Trainer

PARTS = ("data", "sampler", "loss forward", "backward", "optimiser")
SYNCS = ("aten::item", "aten::_local_scalar_dense")


def _labelled(name: str, function):
    def wrapped(*args, **kwargs):
        with record_function(f"part::{name}"):
            return function(*args, **kwargs)

    return wrapped


@contextlib.contextmanager
def instrumented(trainer: Trainer):
    """The trainer's parts wrapped in `record_function` ranges (restored afterwards)."""
    saved = []

    def patch(owner, attribute, name):
        saved.append((owner, attribute, getattr(owner, attribute)))
        setattr(owner, attribute, _labelled(name, getattr(owner, attribute)))

    patch(trainer.dataset, "batch", "data")
    patch(trainer_module, "encode", "data")
    patch(negatives.Negatives, "draw", "sampler")
    patch(trainer, "forward", "loss forward")
    patch(torch.Tensor, "backward", "backward")
    patch(trainer.optimizer, "step", "optimiser")
    patch(trainer, "_update_ema", "optimiser")
    try:
        yield
    finally:
        for owner, attribute, value in reversed(saved):
            setattr(owner, attribute, value)


def breakdown(events, iterations: int, wall: float) -> list[tuple]:
    """Rows (part, ms per iteration, ms in torch ops, ms overhead, syncs per iteration)."""
    parts = {p: [0.0, 0.0, 0] for p in PARTS}
    ops_total = 0.0
    syncs_total = 0
    ranges = sorted(
        (e for e in events if e.name.startswith("part::")), key=lambda e: e.time_range.start
    )
    outer = []  # drop ranges nested in a range of the same part (encode inside batch, etc.)
    for e in ranges:
        if outer and outer[-1].time_range.end >= e.time_range.end:
            continue
        outer.append(e)
    for e in outer:
        parts[e.name[len("part::") :]][0] += e.time_range.elapsed_us() / 1e3
    starts = [(e.time_range.start, e.time_range.end, e.name[len("part::") :]) for e in outer]
    for e in events:
        if not e.name.startswith("aten::"):
            continue
        if e.cpu_parent is not None and e.cpu_parent.name.startswith("aten::"):
            continue  # count each top-level operator once (its children are inside it)
        ms = e.time_range.elapsed_us() / 1e3
        ops_total += ms
        sync = e.name in SYNCS
        syncs_total += sync
        for start, end, part in starts:
            if start <= e.time_range.start <= end:
                parts[part][1] += ms
                parts[part][2] += sync
                break
    rows = []
    for part in PARTS:
        total, ops, syncs = parts[part]
        rows.append((part, total / iterations, ops / iterations, (total - ops) / iterations,
                     syncs / iterations))  # fmt: skip
    covered = sum(p[0] for p in parts.values())
    other_ops = ops_total - sum(p[1] for p in parts.values())
    other_syncs = syncs_total - sum(p[2] for p in parts.values())
    rest = wall * 1e3 - covered
    rows.append(("other", rest / iterations, other_ops / iterations,
                 (rest - other_ops) / iterations, other_syncs / iterations))  # fmt: skip
    return rows


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("spec", type=Path)
    parser.add_argument("--profile", default=None)
    parser.add_argument("--set", dest="settings", action="append", default=[])
    parser.add_argument("--warmup", type=int, default=10)
    parser.add_argument("--iterations", type=int, default=20)
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--top", type=int, default=12)
    args = parser.parse_args(argv)
    torch.set_num_threads(args.threads)
    program = compile_file(
        args.spec,
        args.profile,
        [f"train.iterations={args.warmup + args.iterations}", "train.eval_every=1000000",
         "train.checkpoint_every=1000000", *args.settings],
    )  # fmt: skip
    dataset = load_dataset(program, args.spec.parent, 0)
    with tempfile.TemporaryDirectory() as folder:
        trainer = Trainer(program, dataset, Path(folder) / "run")
        trainer.start(resume=False)
        for _ in range(args.warmup):
            trainer.step()
        with instrumented(trainer), profile(activities=[ProfilerActivity.CPU]) as prof:
            began = time.perf_counter()
            for _ in range(args.iterations):
                trainer.step()
            wall = time.perf_counter() - began
    load = os.getloadavg()[0]
    rows = breakdown(prof.events(), args.iterations, wall)
    print(f"{args.spec.name} --profile {args.profile}: {1e3 * wall / args.iterations:.1f} ms per "
          f"iteration ({args.iterations / wall:.2f} it/s), {args.threads} thread(s), "
          f"load {load:.2f}")  # fmt: skip
    print(f"{'part':<14}{'ms/it':>9}{'in ops':>9}{'overhead':>10}{'syncs/it':>10}")
    for part, total, ops, over, syncs in rows:
        print(f"{part:<14}{total:>9.2f}{ops:>9.2f}{over:>10.2f}{syncs:>10.1f}")
    print()
    print(prof.key_averages().table(sort_by="self_cpu_time_total", row_limit=args.top))


if __name__ == "__main__":
    main()
