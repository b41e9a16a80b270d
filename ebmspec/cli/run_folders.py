"""Run folders as the commands name them: `--out`, `--resume`, `RUN` and `SPEC_OR_RUN`.

In: the folder (or spec) a command was given, or none (then `runs/latest`). Out: the loaded run,
program or folder the command works on, or a located E92x diagnostic on the argument that named
it (the library's `runs.RunError` carries the code, message and help).
"""

from __future__ import annotations

import sys
from pathlib import Path

from ebmspec import runs
from ebmspec.diagnostics import argument_error


def resume_target(out: Path | None) -> Path:
    """The run `--resume` continues (`--out`, else the latest), or a located E92x error."""
    try:
        target = out if out is not None else runs.latest_run()
    except runs.RunError as error:
        raise argument_error(
            "--resume", "runs/latest", error.code, error.message, 0, 11, error.help
        ) from None
    # A run killed before its first checkpoint (run.json written, nothing trained) starts over.
    if not (target / "checkpoint.safetensors").exists() and not runs.is_run(target):
        text = str(target)
        raise argument_error(
            "--out",
            text,
            "E923",
            f"`{text}` has no checkpoint to resume from",
            0,
            len(text),
            "start a new run without --resume",
        )
    return target


def latest_located(argument: str) -> Path:
    """`runs/latest`'s run folder, or a located E921 on the argument left out."""
    try:
        return runs.latest_run()
    except runs.RunError as error:
        raise argument_error(
            argument, "runs/latest", error.code, error.message, 0, 11, error.help
        ) from None


def load_located(path: Path | None, argument: str, device: str = "cpu", best: bool = False):
    """A run folder (or the latest run) loaded, or a located E92x error on the argument."""
    try:
        folder = runs.latest_run() if path is None else path
        return runs.load_run(folder, device, best=best)
    except runs.RunError as error:
        text = str(path) if path is not None else "runs/latest"
        raise argument_error(
            argument, text, error.code, error.message, 0, len(text), error.help
        ) from None


def load_for_sampling(
    path: Path | None, profile: str | None, settings: list[str] | None, best: bool = False
):
    """SPEC_OR_RUN -> (program, energy model, data statistics or None, fitted transforms or
    None, what was loaded).

    A run folder (default: `runs/latest`) gives its program, EMA weights and data statistics; a
    spec gives its freshly initialised model (parameters seeded by `train.seed`, as training
    starts them) and no data statistics.
    """
    from ebmspec.api import compile_file
    from ebmspec.runtime.model.energy import lower_energy

    if path is None or path.is_dir():
        run = load_located(path, "SPEC_OR_RUN", best=best)
        meta = run.meta
        done, planned = meta.get("iteration"), meta.get("iterations")
        origin = f"{run.path}: EMA weights at iteration {done} of {planned}"
        if isinstance(done, int) and isinstance(planned, int) and done < planned:
            origin += " (training stopped early: samples may not look like the data yet)"
        program = sampling_settings(run.program, profile, settings)
        return program, run.model, run.stats, run.pipelines, origin
    program = compile_file(path, profile, settings or ())
    seed = (dict(program.train.settings).get("seed") if program.train else None) or 0
    model = lower_energy(program, seed=seed)
    origin = f"{path}: freshly initialised model (parameter seed {seed})"
    return program, model, None, None, origin


def sampling_settings(program, profile: str | None, settings: list[str] | None):
    """A trained run's program with `--profile` and `--set` applied: sampler keys only."""
    return run_settings(program, profile, settings, ("sampler.",))


def run_settings(program, profile: str | None, settings, prefixes: tuple[str, ...]):
    """A trained run's program with `--profile` and `--set` applied, when every key starts with
    one of `prefixes` (the weights are the run's; a training key would not change them), each
    checked and located like any setting (an unknown key is E801, any other key E802)."""
    from ebmspec.api import configure
    from ebmspec.passes import FINISH
    from ebmspec.semantic.profiles import check_setting
    from ebmspec.source import Source

    allowed = " and ".join(f"`{p}`" for p in prefixes)
    example = "`--set sampler.NAME.sweeps=50`"
    if profile is not None:
        chosen = next((p for p in program.profiles if p.name == profile), None)
        for override in chosen.overrides if chosen is not None else ():
            if not override.key.startswith(prefixes):
                raise argument_error(
                    "--profile", profile, "E802",
                    f"profile `{profile}` sets `{override.key}`, which a trained run cannot "
                    "change", 0, len(profile),
                    f"a trained run keeps its weights: only {allowed} keys apply (use the "
                    "spec itself to try other settings)",
                )  # fmt: skip
    for text in settings or ():
        key = check_setting(program, Source("--set", text)).key  # E801 for an unknown key
        start = text.index(key)
        if not key.startswith(prefixes):
            raise argument_error(
                "--set", text, "E802",
                f"`{key}` cannot change a trained run", start, start + len(key),
                f"a trained run keeps its weights: only {allowed} keys apply ({example})",
            )  # fmt: skip
    if profile is None and not settings:
        return program
    program = configure(program, profile, settings or ())
    for run_pass in FINISH:
        program = run_pass(program)
    return program


def write_output(output: Path, content: str | bytes) -> None:
    """Write `-o FILE` atomically; a folder that cannot be written is a located E914."""
    from ebmspec.runtime.io.checkpoint import write_atomically

    try:
        write_atomically(output, content)
    except OSError as error:
        text = str(output)
        raise argument_error(
            "--output",
            text,
            "E914",
            f"cannot write `{text}`: {error.strerror or error}",
            0,
            len(text),
            "choose a path in a folder you can write to",
        ) from None


def refuse_existing_run(run_dir: Path) -> None:
    """E920 when a new run would go into a folder that already holds one."""
    if (run_dir / "checkpoint.safetensors").exists():
        text = str(run_dir)
        raise argument_error(
            "--out",
            text,
            "E920",
            f"`{text}` already holds a run",
            0,
            len(text),
            "continue it with --resume, or choose another --out",
        )


def prepare_run(
    spec: Path, source, out, resume: bool, profile, settings: list, where: str, limit=None
):
    """The program, run folder and spec source of `ebmspec train`: with `resume` the run's own
    (a note when this command's differ), else the compiled spec in a new folder (E920 when
    `out` already holds a run), whose run.json and spec copy are written here."""
    from ebmspec.api import check_trainable, compile_spec
    from ebmspec.memory import check_memory
    from ebmspec.source import Source

    run_dir = out
    if resume:
        run_dir = resume_target(out)
        # the trainer loads the checkpoint itself; here only the run's own program is needed
        program, info = runs.load_program(run_dir)
        stored = (run_dir / "spec.ebm").read_text(encoding="utf-8")
        if not (run_dir / "checkpoint.safetensors").exists():
            sys.stderr.write(
                f"note: {run_dir} stopped before its first checkpoint: training it from the start\n"
            )
        trained_source = Source(str(run_dir / "spec.ebm"), stored)
        ignored = []  # what this command gives that the resumed run does not take
        if stored != source.text:
            ignored.append(f"the spec {spec} (not the text the run was started from)")
        if profile is not None and info.get("profile") != profile:
            ignored.append(f"--profile {profile}")
        started = info.get("settings") or []
        ignored += [f"--set {text}" for text in settings or () if text not in started]
        if ignored:
            sys.stderr.write(
                f"note: resuming {run_dir} with the spec, profile and settings it was started "
                f"with; not applied: {'; '.join(ignored)} (a run's settings are fixed when it "
                "starts: train longer or differently in a new run)\n"
            )
    else:
        if out is not None:
            refuse_existing_run(out)  # before compiling: E920 needs no model
        program = compile_spec(source, profile, settings or ())
        check_trainable(program, source)
        check_memory(program, source, profile, settings, limit)  # E509 before anything allocates
        trained_source = source
        run_dir = out or runs.default_run_dir(program)
        refuse_existing_run(run_dir)
        runs.write_run_info(run_dir, spec, source.text, profile, settings, where)
    return program, run_dir, trained_source
