"""The runs under a folder, for `ebmspec runs`: what each was trained from, how far it got and how
well it evaluated.

In: a folder (default `runs`). Out: one `RunSummary` per run folder in it (`runs.is_run`; found
at any depth, not inside another run, symbolic links not followed so `runs/latest` is not counted
twice), oldest first, read from the files `ebmspec train` writes: `run.json` (spec, profile,
settings, created), `checkpoint.json` (iteration reached and planned, complete), the last
evaluation in `metrics.jsonl` (else the checkpoint's `last_eval`) and `best.json`; `latest` marks
the run `FOLDER/latest` names. A folder that is missing or is a file is a `runs.RunError` (E932).
Files a run has not written yet (a run still starting) or that are damaged leave their fields
empty rather than fail the listing.
"""

from __future__ import annotations

import json
import os
from dataclasses import asdict, dataclass
from pathlib import Path

from ebmspec import runs

# The numbers a listing shows of an evaluation, in this order, where the result has them.
HEADLINE = (
    "score",
    "accuracy_energy",
    "accuracy_samples",
    "ece",
    "generation_accuracy",
    "test_log_likelihood",
    "test_free_energy",
)
# Folders of a run that hold no runs: not searched.
INSIDE_A_RUN = ("history", "tensorboard")


@dataclass
class RunSummary:
    """One run folder. `last_eval`: `{"iteration", "train_seconds", HEADLINE metrics...}`;
    `best`: best.json (`metric`, `value`, `iteration`, `train_seconds`); None where absent."""

    path: str
    name: str
    spec: str | None
    profile: str | None
    settings: list
    created: str | None
    iteration: int | None
    iterations: int | None
    complete: bool
    last_eval: dict | None
    best: dict | None
    latest: bool

    def as_dict(self) -> dict:
        return asdict(self)


def _json(path: Path) -> dict | None:
    try:
        value = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    return value if isinstance(value, dict) else None


def headline(result: dict | None) -> dict | None:
    """The headline numbers of an evaluation result, with its iteration and training time."""
    if not result:
        return None
    keys = ("iteration", "train_seconds", *HEADLINE)
    return {key: result[key] for key in keys if key in result}


def last_evaluation(run_dir: Path) -> dict | None:
    """The last evaluation entry of `metrics.jsonl` (a line cut short by a kill ends it)."""
    path = run_dir / "metrics.jsonl"
    last = None
    try:
        lines = path.read_text(encoding="utf-8").splitlines()
    except OSError:
        return None
    for line in lines:
        try:
            entry = json.loads(line)
        except ValueError:
            break
        if isinstance(entry, dict) and isinstance(entry.get("eval"), dict):
            last = entry["eval"]
    return last


def latest_target(folder: Path) -> Path | None:
    """The run `folder/latest` names (a relative link, or a text file naming it), if any."""
    link = folder / "latest"
    try:
        if link.is_symlink():
            return (folder / os.readlink(link)).resolve()
        if link.is_file():
            return Path(link.read_text(encoding="utf-8").strip()).resolve()
    except OSError:
        return None
    return None


def find_runs(folder: Path) -> list[Path]:
    """Every run folder under `folder` (itself included), not inside another run."""
    if runs.is_run(folder):
        return [folder]
    found = []
    for top, dirs, _ in os.walk(folder):  # links to folders are not followed
        here = Path(top)
        keep = []
        for name in sorted(dirs):
            path = here / name
            if path.is_symlink():  # `latest`: its run is listed under its own name
                continue
            if runs.is_run(path):
                found.append(path)
            elif name not in INSIDE_A_RUN:
                keep.append(name)
        dirs[:] = keep
    return found


def summarize(run_dir: Path, latest: Path | None = None, name: str | None = None) -> RunSummary:
    """One run folder; `name`: how the listing calls it (default: the folder's name)."""
    info = _json(run_dir / "run.json") or {}
    meta = _json(run_dir / "checkpoint.json") or {}
    last = last_evaluation(run_dir) or meta.get("last_eval")
    iteration, planned = meta.get("iteration"), meta.get("iterations")
    return RunSummary(
        path=str(run_dir),
        name=name or run_dir.name,
        spec=info.get("spec"),
        profile=info.get("profile"),
        settings=list(info.get("settings") or ()),
        created=info.get("created"),
        iteration=iteration if isinstance(iteration, int) else None,
        iterations=planned if isinstance(planned, int) else None,
        complete=bool(meta.get("complete")),
        last_eval=headline(last),
        best=_json(run_dir / "best.json"),
        latest=latest is not None and run_dir.resolve() == latest,
    )


def list_runs(folder: Path) -> list[RunSummary]:
    """The runs under `folder`, oldest first (by `created`, then path)."""
    text = str(folder)
    if not folder.exists():
        raise runs.RunError(
            "E932",
            f"`{text}` does not exist",
            "name the folder the runs were written to (`ebmspec train` writes to `runs/`)",
        )
    if not folder.is_dir():
        raise runs.RunError(
            "E932", f"`{text}` is a file, not a folder of runs", "name the folder that holds it"
        )
    latest = latest_target(folder)
    summaries = [
        summarize(path, latest, path.name if path == folder else str(path.relative_to(folder)))
        for path in find_runs(folder)
    ]
    return sorted(summaries, key=lambda run: (run.created or "", run.path))
