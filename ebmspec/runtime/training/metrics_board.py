"""TensorBoard event files of a training run: `RUN/tensorboard/events.out.tfevents.*`, so that
`tensorboard --logdir runs` finds every run.

In: the log entries `metrics.jsonl` gets (logged windows, evaluations, rollbacks) and sample grids
(CHW pixels in [0, 1]). Out, at the entry's iteration as the step:

    train/loss, train/f_data, train/f_samples, ... , train/lr    each logged window's means
    accept/<block>                                              acceptance rate per sampler block
    eval/<metric>                                               every number of an evaluation
    train/rollbacks                                             the count, at the restored iteration
    samples                          at each evaluation, 64 chains of the image variable tiled

TensorBoard follows links, so `tensorboard --logdir runs` also lists `latest/tensorboard`: the
newest run a second time, under the name `latest`.

Resuming (or rolling back) to iteration T mirrors `MetricsLog.truncate`: the events past T are
dropped from the files themselves - the kept ones are copied into the new writer's file and the
old files removed, so one file holds the run and any reader (`--inspect` included) sees each step
once - and the writer starts with `purge_step = T + 1` as well, TensorBoard's own marker for a
restart. Only the entries the log writes reach it: nothing here runs per iteration.
"""

from __future__ import annotations

import math
from pathlib import Path

import torch

from ebmspec.runtime.training.metrics_csv import flatten

FOLDER = "tensorboard"
PATTERN = "events.out.tfevents.*"
# Bookkeeping in an evaluation result, not metrics: the step is the iteration already.
NOT_METRICS = frozenset({"iteration", "train_seconds", "examples", "bins"})
GRID = 64  # chains in the sample grid


def _finite(value) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool) and math.isfinite(value)


def scalars(entry: dict) -> dict[str, float]:
    """The scalars of one log entry, by tag (see the module docstring)."""
    if "rollback" in entry:
        # The entry's loss is the diverged one of a later iteration, not this step's.
        return {"train/rollbacks": float(entry["rollback"])}
    if "eval" in entry:
        flat = flatten({k: v for k, v in entry["eval"].items() if k not in NOT_METRICS})
        return {
            f"eval/{key}": float(value)
            for key, value in flat.items()
            if _finite(value) and not key.endswith("_examples") and not key.startswith("seconds/")
        }
    tags: dict[str, float] = {}
    for key, value in entry.items():
        if key == "accept" and isinstance(value, dict):
            tags.update({f"accept/{block}": float(r) for block, r in value.items() if _finite(r)})
        elif key not in NOT_METRICS and _finite(value):
            tags[f"train/{key}"] = float(value)
    return tags


def tile(images: torch.Tensor, columns: int | None = None, pad: int = 1) -> torch.Tensor:
    """Images [N, C, H, W] in [0, 1] -> one CHW grid, `pad` pixels of white between the tiles;
    small images are enlarged (whole pixels) to at least 32 pixels a side."""
    count, channels, height, width = images.shape
    scale = max(1, math.ceil(32 / max(height, width)))
    if scale > 1:
        images = images.repeat_interleave(scale, 2).repeat_interleave(scale, 3)
        height, width = height * scale, width * scale
    columns = columns or max(1, math.ceil(math.sqrt(count)))
    rows = math.ceil(count / columns)
    grid = torch.ones(channels, rows * (height + pad) + pad, columns * (width + pad) + pad)
    for index in range(count):
        top = pad + (index // columns) * (height + pad)
        left = pad + (index % columns) * (width + pad)
        grid[:, top : top + height, left : left + width] = images[index]
    return grid


def image_variable(program) -> object | None:
    """The first real variable shaped like an image, [1, H, W] or [3, H, W]."""
    return next(
        (
            v
            for v in program.variables
            if v.kind == "real" and len(v.shape) == 3 and v.shape[0] in (1, 3)
        ),
        None,
    )


def chain_images(trainer, count: int = GRID) -> torch.Tensor | None:
    """Pixels [N, C, H, W] in [0, 1] of the run's image variable (None without one): the first
    `count` chains of the replay buffer; a run without one (cd, ssm, nll, vera) draws `count`
    chains of its sampler from the EMA model, seeded apart from the training streams (which it
    leaves untouched, so a resumed run still matches an uninterrupted one)."""
    from ebmspec.runtime.sampling.sampler import sample
    from ebmspec.runtime.seeding import stream_seed

    variable = image_variable(trainer.program)
    if variable is None:
        return None
    values = None
    for _, chains in trainer.chain_sets:
        if chains.buffer is not None and variable.name in chains.buffer:
            values = chains.buffer[variable.name][:count]
            break
    if values is None:
        # A split of the generation stream: the report's own conditional samples use it unsplit.
        seed = stream_seed(trainer.s.seed, "generation", 1)
        state, _ = sample(
            trainer.program, trainer.ema, count, seed=seed, stats=trainer.stats,
            device=trainer.device,
        )  # fmt: skip
        values = state.point.values[variable.name]
    x = values.detach().to("cpu", torch.float32)
    pipeline = trainer.pipelines.get(variable.name)
    if pipeline is not None and pipeline.fitted:
        x = pipeline.inverse(x)  # the datasets' raw pixels are in [0, 1]
    elif variable.low is not None and variable.high > variable.low:
        x = (x - variable.low) / (variable.high - variable.low)
    return torch.nan_to_num(x, nan=0.0).clamp(0, 1)


class Board:
    """The event files in `folder`; the writer opens on the first entry (rank 0 only: the
    caller, `MetricsLog`, writes nothing on the other ranks)."""

    def __init__(self, folder: Path) -> None:
        self.folder = Path(folder)
        self.writer = None

    def files(self) -> list[Path]:
        return sorted(self.folder.glob(PATTERN)) if self.folder.is_dir() else []

    def _open(self, purge_step: int | None = None):
        from torch.utils.tensorboard import SummaryWriter

        self.folder.mkdir(parents=True, exist_ok=True)
        self.writer = SummaryWriter(str(self.folder), purge_step=purge_step)
        return self.writer

    def start(self) -> None:
        """A fresh run: no events from an earlier one."""
        self.close()
        for path in self.files():
            path.unlink()

    def restart(self, iteration: int) -> None:
        """Back to `iteration` (a resume or a rollback): the events at later steps go."""
        self.close()
        # oldest first by time written (names hold whole seconds and a process id)
        old = sorted(self.files(), key=lambda path: (path.stat().st_mtime_ns, path.name))
        # An earlier restart killed before it removed the old files left two copies of the
        # kept steps: the newest file's copy of each (step, tags) wins.
        newest = {}
        for path in old:
            for event in _events(path):
                if event.step <= iteration:
                    tags = tuple(value.tag for value in event.summary.value)
                    newest[event.step, tags] = event
        kept = sorted(newest.values(), key=lambda event: (event.step, event.wall_time))
        writer = self._open(purge_step=iteration + 1)
        for event in kept:
            writer.file_writer.add_event(event, walltime=event.wall_time)
        writer.flush()  # the kept events are on disk before their old copies go
        for path in old:
            path.unlink(missing_ok=True)

    def write(self, entry: dict) -> None:
        tags = scalars(entry)
        if not tags:
            return
        writer = self.writer or self._open()
        step = int(entry["iteration"])
        for tag, value in tags.items():
            writer.add_scalar(tag, value, step)

    def image(self, tag: str, grid: torch.Tensor, step: int) -> None:
        """A CHW image in [0, 1]."""
        writer = self.writer or self._open()
        writer.add_image(tag, grid.clamp(0, 1), step, dataformats="CHW")

    def flush(self) -> None:
        if self.writer is not None:
            self.writer.flush()

    def close(self) -> None:
        if self.writer is not None:
            self.writer.close()
            self.writer = None


def _events(path: Path) -> list:
    """The summary events of one event file (its file-version and restart markers left out: the
    new file has its own), up to a record cut short by a kill."""
    from tensorboard.backend.event_processing.event_file_loader import RawEventFileLoader
    from tensorboard.compat.proto import event_pb2

    events = []
    for record in RawEventFileLoader(str(path)).Load():
        event = event_pb2.Event.FromString(record)
        if event.HasField("summary"):
            events.append(event)
    return events
