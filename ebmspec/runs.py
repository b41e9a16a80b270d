"""Run directories: what `ebmspec train` writes and `sample` / `eval` read back.

In: a checked spec (its source text, profile and `--set` overrides) and an output folder. Out:

    RUN/run.json               how the run was made (spec path, profile, settings, device, times)
    RUN/spec.ebm               the spec text as trained, so the run stays self-contained
    RUN/checkpoint.safetensors everything to resume (runtime/io/checkpoint.py), + checkpoint.json
    RUN/energy.safetensors     EMA energy weights (what sampling, evaluation and emitted code use)
    RUN/best.safetensors       the EMA weights of the best evaluation so far, + best.json
    RUN/history/               the checkpoints before the last (deeper rollbacks)
    RUN/metrics.jsonl          training log and periodic evaluations
    RUN/metrics.csv            the same log as a table (rewritten at each checkpoint)
    RUN/tensorboard/           TensorBoard event files (`tensorboard --logdir runs`)

and `runs/latest`, a relative link to the newest run (a one-line text file naming it where links
cannot be made), which `ebmspec sample` and `ebmspec eval` use when no RUN is given. `load_run`
rebuilds program, EMA model, data statistics and fitted transforms from a run folder alone.
"""

from __future__ import annotations

import json
import os
import time
from dataclasses import dataclass, replace
from pathlib import Path

from ebmspec import ir
from ebmspec.runtime.io import checkpoint as ckpt

RUNS = Path("runs")
LATEST = RUNS / "latest"


class RunError(Exception):
    """A run folder that cannot be used; `code` and `help` feed the CLI's located error."""

    def __init__(self, code: str, message: str, help: str):
        super().__init__(message)
        self.code, self.message, self.help = code, message, help


def default_run_dir(program: ir.Program) -> Path:
    return RUNS / f"{program.name}-{time.strftime('%Y%m%d-%H%M%S')}"


def is_run(path: Path) -> bool:
    return (path / "run.json").is_file() and (path / "spec.ebm").is_file()


def mark_latest(run_dir: Path) -> None:
    """Point `runs/latest` at `run_dir`: a relative symbolic link, so `runs/latest/grid.png`
    works in a shell; where links cannot be made (Windows without the privilege) a one-line text
    file naming the run, which `latest_run` reads too."""
    RUNS.mkdir(parents=True, exist_ok=True)
    target = os.path.relpath(run_dir.resolve(), RUNS.resolve())
    temp = RUNS / f".latest-{os.getpid()}"
    try:
        temp.unlink(missing_ok=True)
        os.symlink(target, temp, target_is_directory=True)
        os.replace(temp, LATEST)  # atomic: a reader sees the old link or the new one
    except OSError:
        temp.unlink(missing_ok=True)
        ckpt.write_atomically(LATEST, str(run_dir.resolve()) + "\n")


def latest_run() -> Path:
    if LATEST.is_symlink():
        path = RUNS / os.readlink(LATEST)
    elif LATEST.is_file():
        path = Path(LATEST.read_text(encoding="utf-8").strip())
    else:
        raise RunError(
            "E921",
            "no run to use: `runs/latest` does not exist in this folder",
            "train one first (`ebmspec train SPEC`), or name a run folder",
        )
    if not is_run(path):
        raise RunError(
            "E921",
            f"`runs/latest` names `{path}`, which is not a run folder any more",
            "name a run folder explicitly, or train again",
        )
    return path


def write_run_info(run_dir: Path, spec: Path, text: str, profile, settings, device) -> None:
    run_dir.mkdir(parents=True, exist_ok=True)
    # spec.ebm before run.json, both whole or absent: a run.json means the spec is complete
    ckpt.write_atomically(run_dir / "spec.ebm", text)
    info = {
        "spec": str(spec),
        "profile": profile,
        "settings": list(settings or ()),
        "device": device,
        "created": time.strftime("%Y-%m-%d %H:%M:%S"),
    }
    ckpt.save_json(run_dir / "run.json", info)


def read_run_info(run_dir: Path) -> dict:
    if run_dir.suffix == ".ebm" and run_dir.is_file():
        raise RunError(
            "E922",
            f"`{run_dir}` is a spec, not a run folder",
            f"train it first (`ebmspec train {run_dir}`), then name the run folder it writes",
        )
    if not run_dir.exists():
        raise RunError(
            "E922",
            f"`{run_dir}` does not exist",
            "name a run folder written by `ebmspec train` (`ebmspec runs` lists them), or "
            "leave it out for the latest (`sample` also takes a .ebm spec)",
        )
    if not is_run(run_dir):
        raise RunError(
            "E922",
            f"`{run_dir}` is not a run folder (it has no run.json and spec.ebm)",
            "run folders are written by `ebmspec train`: name one, or leave it out for the latest"
            " (`sample` also takes a .ebm spec)",
        )
    try:
        return json.loads((run_dir / "run.json").read_text(encoding="utf-8"))
    except (OSError, json.JSONDecodeError) as error:
        raise RunError(
            "E922", f"`{run_dir}/run.json` is damaged ({error})", "train the run again"
        ) from None


@dataclass
class TrainedRun:
    path: Path
    info: dict
    program: ir.Program
    model: object  # EnergyModel with the EMA weights
    stats: dict
    pipelines: dict
    meta: dict

    def with_program(self, program: ir.Program) -> TrainedRun:
        """The same weights under a reconfigured program (sampler or evaluation settings)."""
        return replace(self, program=program)


def load_program(run_dir: Path) -> tuple[ir.Program, dict]:
    """The program of a run (its stored spec, profile and settings) and its run.json."""
    from ebmspec.api import compile_spec
    from ebmspec.source import Source

    info = read_run_info(run_dir)
    spec_file = run_dir / "spec.ebm"
    source = Source(str(spec_file), spec_file.read_text(encoding="utf-8"))
    program = compile_spec(source, info.get("profile"), info.get("settings") or ())
    return program, info


def load_run(run_dir: Path, device: str = "cpu", best: bool = False) -> TrainedRun:
    """Program (stored spec, profile and settings), EMA model, data statistics and fitted
    transforms of a run. `best`: the EMA weights of its best evaluation (`best.safetensors`)
    instead of the last ones."""
    from ebmspec.runtime.data.transforms import Pipeline
    from ebmspec.runtime.io.reader import unflatten_stats
    from ebmspec.runtime.io.weights import load_parameters
    from ebmspec.runtime.model.energy import lower_energy

    program, info = load_program(run_dir)
    try:
        tensors, meta = ckpt.load_checkpoint(run_dir / "checkpoint.safetensors")
    except ckpt.CheckpointError as error:
        raise RunError(
            "E923", str(error), "the run has no usable checkpoint; train it again"
        ) from None
    model = lower_energy(program, seed=None)
    model.load_state_dict(ckpt.under("ema", tensors))
    if best:
        path = run_dir / "best.safetensors"
        if not path.is_file():
            raise RunError(
                "E926",
                f"{run_dir} has no best weights yet (best.safetensors)",
                "they are written at the first evaluation during training; drop --best",
            )
        load_parameters(model, path)
        chosen = json.loads((run_dir / "best.json").read_text(encoding="utf-8"))
        # the weights' own iteration and training time, so every report names what it evaluates
        meta = meta | {
            "best": chosen,
            "weights": "best",
            "iteration": chosen.get("iteration"),
            "train_seconds": chosen.get("train_seconds"),
        }
    model.to(device).eval()
    for parameter in model.parameters():
        parameter.requires_grad_(False)
    stats = unflatten_stats(ckpt.under("stats", tensors))
    pipelines = {}
    if program.data is not None:
        for transform in program.data.transforms:
            state = ckpt.under(f"transform/{transform.variable}", tensors)
            pipelines[transform.variable] = Pipeline(transform.steps, state=state)
    return TrainedRun(run_dir, info, program, model, stats, pipelines, meta)
