"""Training a run, shared by `ebmspec train` and `Model.fit`: a checked program in, a run out.

`start_run` makes a new run folder (run.json and the spec copy, through `runs.write_run_info`);
`train` loads the dataset, builds the `Trainer` (the spec's evaluation on schedule), starts or
resumes it, points `runs/latest` at the run and trains to the end: checkpoints, energy weights,
best weights and the logs land in the folder (runs.py's layout). `as_user_error` turns what the
loop raises about the spec (divergence, a run that does not split over the processes) into its
located E929 / E930 diagnostic.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from pathlib import Path

from ebmspec import ir, runs
from ebmspec.api import check_trainable
from ebmspec.diagnostics import Diagnostic, UserError
from ebmspec.source import Source


def start_run(
    spec: Path,
    source: Source,
    program: ir.Program,
    run_dir: Path | None,
    profile: str | None,
    settings: Sequence[str],
    device: str,
) -> Path:
    """A new run folder for `program` (`run_dir`, else `runs/NAME-TIME`) holding run.json and the
    spec's text; E924 when the program cannot train, E509 when it would not fit in memory,
    `runs.RunError` E920 when the folder already holds a run."""
    from ebmspec.memory import check_memory

    check_trainable(program, source)
    check_memory(program, source, profile, settings)  # E509, as `ebmspec train` refuses it
    run_dir = Path(run_dir) if run_dir is not None else runs.default_run_dir(program)
    if (run_dir / "checkpoint.safetensors").exists():
        raise runs.RunError(
            "E920",
            f"`{run_dir}` already holds a run",
            "load it with `ebmspec.load_run`, or fit into another folder",
        )
    runs.write_run_info(run_dir, spec, source.text, profile, list(settings), device)
    return run_dir


def train(
    program: ir.Program,
    source: Source,
    run_dir: Path,
    spec_dir: Path | None,
    device: str = "cpu",
    monitor=None,
    ranks=None,
    capture: str | None = "spec",
    resume: bool = False,
    announce: Callable | None = None,
    latest: bool = True,
) -> dict:
    """Train `program` into `run_dir` (its run.json written) and return the trainer's summary
    (`iteration`, `complete`, `train_seconds`, `rollbacks`, `last_eval`, `best`). `source`: the
    spec text as trained (data errors quote it); `spec_dir`: where relative data files are
    looked up besides the current folder; `announce(dataset)`: called once the trainer is built;
    `latest`: point `runs/latest` at the run (rank 0 only). Raises `TrainingDiverged` and
    `distributed.ShardingError` (see `as_user_error`) and located `UserError`s."""
    from ebmspec.runtime.data import load_dataset
    from ebmspec.runtime.evaluation import evaluate as evaluation
    from ebmspec.runtime.training.trainer import Settings, Trainer

    settings = Settings.of(program)
    dataset = load_dataset(program, spec_dir, settings.seed, source=source)
    rows = len(dataset)
    if not dataset.drawn and settings.batch > rows:  # a batch is distinct training rows
        raise UserError(
            source,
            [
                Diagnostic(
                    "E632",
                    f"train.batch = {settings.batch} is more than the {rows} training examples "
                    f"of `{dataset.name}`",
                    program.train.span,
                    f"set `batch` to at most {rows} (`--set train.batch={rows}`), or give the "
                    "data more rows",
                )
            ],
        )
    trainer = Trainer(
        program, dataset, run_dir, device, monitor, evaluation.evaluate, ranks, capture
    )
    if announce is not None:
        announce(dataset)
    trainer.start(resume=resume)
    if latest and trainer.ranks.lead:
        runs.mark_latest(run_dir)
    return trainer.run()


def as_user_error(error: Exception, program: ir.Program, source: Source, run_dir: Path):
    """The located diagnostic of a `TrainingDiverged` (E929) or `ShardingError` (E930), at the
    spec's train block; None for any other exception."""
    from ebmspec.runtime.training import distributed
    from ebmspec.runtime.training.trainer import TrainingDiverged

    if isinstance(error, distributed.ShardingError):
        diagnostic = Diagnostic("E930", error.message, program.train.span, error.help)
    elif isinstance(error, TrainingDiverged):
        help = error.help or (
            "lower train.optimizer.lr, add train.energy_l2 = 0.1, or raise "
            f"train.objective.steps; the last good checkpoint is in {run_dir}"
        )
        diagnostic = Diagnostic("E929", f"training diverged: {error}", program.train.span, help)
    else:
        return None
    return UserError(source, [diagnostic])
