"""`ebmspec train` once its arguments are parsed: one process, or one rank of a torchrun job.

In: the spec path and the command's options. Out: a trained run folder (runs.py's layout), the live
display and the closing summary on rank 0. `--nproc N` (N > 1) re-launches the same command under
`torchrun --standalone --nproc_per_node N`; a process torchrun started joins its process group
(runtime/training/distributed.py), and rank 0 alone chooses and writes the run folder, prints and
evaluates. User mistakes found on every rank are reported once, by rank 0.
"""

from __future__ import annotations

import sys
from pathlib import Path

from ebmspec.diagnostics import Diagnostic, UserError


def torchrun_command(nproc: int, argv: list[str]) -> list[str]:
    """The torchrun command line that runs `argv` (this command's arguments from `train` on,
    `--nproc` removed) on `nproc` local processes."""
    kept, skip = [], False
    for arg in argv:
        if skip:
            skip = False
        elif arg == "--nproc":
            skip = True
        elif not arg.startswith("--nproc="):
            kept.append(arg)
    launcher = [sys.executable, "-m", "torch.distributed.run", "--standalone"]
    return [*launcher, f"--nproc_per_node={nproc}", "-m", "ebmspec", *kept]


def launch(nproc: int) -> int:
    """Run this `ebmspec train` command under torchrun (in this process, so that a worker's
    failure is its exit status rather than torchrun's traceback); the exit status."""
    import logging

    from torch.distributed.elastic.multiprocessing.api import SignalException
    from torch.distributed.elastic.multiprocessing.errors import ChildFailedError
    from torch.distributed.run import get_args_parser, run

    argv = sys.argv[1:]
    start = argv.index("train") if "train" in argv else 0
    args = get_args_parser().parse_args(torchrun_command(nproc, argv[start:])[3:])
    # The workers print their own diagnostics; torchrun's log would repeat each as a traceback.
    logging.getLogger("torch.distributed.elastic").setLevel(logging.CRITICAL)
    try:
        run(args)
    except SignalException as stopped:  # Ctrl-C / SIGTERM: the workers checkpointed and left
        return 128 + int(stopped.sigval)
    except ChildFailedError as failed:
        codes = [failure.exitcode for failure in failed.failures.values()]
        if 1 in codes:  # a user mistake rank 0 reported; torchrun then stopped the others
            return 1
        for rank, failure in failed.failures.items():
            why = (
                failure.signal_name() if failure.exitcode < 0 else f"exit status {failure.exitcode}"
            )
            sys.stderr.write(f"error: training process {rank} failed ({why})\n")
        return max([2, *codes])
    return 0


def precheck(spec: Path, options: dict, nproc: int) -> None:
    """Before torchrun starts: the spec compiles and its run splits into `nproc` processes (a
    resumed run: was started with `nproc`), so a mistake is one located error, not one per
    process."""
    from ebmspec import runs
    from ebmspec.api import check_trainable, compile_spec, read_source
    from ebmspec.cli import run_folders
    from ebmspec.runtime.io import checkpoint as ckpt
    from ebmspec.runtime.training import distributed
    from ebmspec.runtime.training.objectives import SHARDABLE
    from ebmspec.runtime.training.trainer import Settings
    from ebmspec.source import Source

    meta = None
    if options["resume"]:
        run_dir = run_folders.resume_target(options["out"])
        program, _ = runs.load_program(run_dir)
        spec_file = run_dir / "spec.ebm"
        source = Source(str(spec_file), spec_file.read_text(encoding="utf-8"))
        meta = ckpt.read_meta(run_dir / "checkpoint.safetensors")
    else:
        source = read_source(spec)
        program = compile_spec(source, options["profile"], options["settings"])
        check_trainable(program, source)
        if options["out"] is not None:
            run_folders.refuse_existing_run(options["out"])
    ranks = distributed.Ranks(0, nproc, (0,), nproc)
    try:
        if meta is not None:  # first: the one fix for a resumed run is the right --nproc
            distributed.check_shares(meta, ranks)
        distributed.check(Settings.of(program), ranks, SHARDABLE)
        latents = dict(program.train.objective.args).get("latents")
        if nproc > 1 and latents == "persistent" and any(not v.observed for v in program.variables):
            raise distributed.ShardingError(
                f"persistent latent chains live in one process; --nproc {nproc} asks for {nproc}",
                "train in one process, or with `latents = fresh` or `latents = exact`",
            )
    except distributed.ShardingError as error:
        diagnostic = Diagnostic("E930", error.message, program.train.span, error.help)
        raise UserError(source, [diagnostic]) from None


def train_command(console, spec: Path, options: dict, where: str) -> int:
    """Train `spec` (options: profile, settings, out, resume); the exit status."""
    from ebmspec import runs
    from ebmspec.api import read_source, training
    from ebmspec.cli import run_folders, train_display
    from ebmspec.cli.train_display import LiveDisplay
    from ebmspec.runtime import allocator
    from ebmspec.runtime.training import distributed
    from ebmspec.runtime.training.trainer import Monitor, TrainingDiverged
    from ebmspec.source import Source

    allocator.tune_allocator()
    ranks, where = distributed.start(where)
    source = read_source(spec)
    profile, settings, resume = options["profile"], options["settings"], options["resume"]
    run_dir = None
    if ranks.lead:
        program, run_dir, trained_source = run_folders.prepare_run(
            spec, source, options["out"], resume, profile, settings, where,
            options.get("max_memory"),
        )  # fmt: skip
    run_dir = distributed.share_out(run_dir, ranks)
    if not ranks.lead:  # the run folder rank 0 chose (and wrote run.json and spec.ebm into)
        program, _ = runs.load_program(run_dir)
        spec_file = run_dir / "spec.ebm"
        trained_source = Source(str(spec_file), spec_file.read_text(encoding="utf-8"))
    display = Monitor()
    if ranks.lead:
        display = LiveDisplay(title=program.name, hint=train_display.profile_hint(program, profile))

    def announce(dataset) -> None:
        processes = f", {ranks.world} processes" if ranks.world > 1 else ""
        if ranks.lead:
            console.print(
                f"[bold]{program.name}[/]: {dataset.description}; run folder {run_dir} "
                f"({where}{processes})",
                highlight=False,
                soft_wrap=True,
            )

    try:  # the library's loop, which `Model.fit` runs too
        summary = training.train(
            program, trained_source, run_dir, spec.parent, where, display, ranks,
            options.get("capture", "spec"), resume, announce,
        )  # fmt: skip
    except (distributed.ShardingError, TrainingDiverged) as error:
        display.stop()
        return _refuse(ranks, training.as_user_error(error, program, trained_source, run_dir))
    finally:
        display.stop()
    if ranks.lead:
        train_display.print_training_summary(console, run_dir, summary)
    distributed.finish()
    return 0


def _refuse(ranks, error: UserError) -> int:
    """Rank 0 reports the mistake (every rank found it); the others only exit with 1."""
    if ranks.lead:
        raise error
    return 1
