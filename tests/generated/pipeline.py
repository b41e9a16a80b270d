"""Run one spec through the CLI as a user would: check, compile, sample, train, eval.

In: a spec file (with its data beside it), a work folder, a condition and a profile. Out: nothing
when every step succeeds; otherwise `PipelineFailure` naming the step, its exit status and output.
Each command runs in-process through `ebmspec.cli.main` (the console script's entry, with its exit
statuses: 1 a located user error, 2 an internal error). Besides the exit status it demands: the
emitted module imports and computes the in-process energy bit for bit on random inputs, the
samples are finite, and every training loss and energy in `metrics.jsonl` is a finite number.
`refused(path)` is the check alone, for specs that must be refused with a given code.
"""

from __future__ import annotations

import contextlib
import functools
import importlib.util
import io
import json
import math
import sys
from pathlib import Path

import numpy as np
import torch

from ebmspec.api import compile_file
from ebmspec.cli import main
from ebmspec.runtime.data import dsprites
from ebmspec.runtime.io.weights import save_parameters
from ebmspec.runtime.model.energy import lower_energy, random_values

# The procedural dSprites takes about 4 s to render and hundreds of generated specs load it: here
# it is rendered once per process (its callers index it, so they never change the cached copy;
# the library itself does not cache it, which would hold 200 MB for the whole of a training).
dsprites._render_ellipses = functools.lru_cache(maxsize=1)(dsprites._render_ellipses)


class PipelineFailure(AssertionError):
    pass


def cli(*args: str) -> tuple[int, str, str]:
    """(exit status, stdout, stderr) of `ebmspec ARGS`."""
    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        try:
            main(list(args))
            status = 0
        except SystemExit as done:
            status = done.code if isinstance(done.code, int) else 1
    return status, out.getvalue(), err.getvalue()


def step(name: str, *args: str, allow: tuple[str, str] | None = None) -> str | None:
    """stdout of `ebmspec ARGS`, or `PipelineFailure`; None when `allow` = (code, file) and
    the command stopped with that located user error."""
    status, out, err = cli(*args)
    if allow is not None and status == 1 and f"error[{allow[0]}]" in err and allow[1] in err:
        return None
    if status != 0:
        kind = "internal error" if status == 2 else "user error on a spec believed valid"
        raise PipelineFailure(f"{name}: {kind} (exit {status})\n{err[-4000:]}\n{out[-1000:]}")
    return out


def compare_emitted(spec: Path, emitted: Path, work: Path, seed: int) -> None:
    """The emitted module's energies equal the in-process model's, bit for bit."""
    program = compile_file(spec)
    model = lower_energy(program, seed=seed).eval()
    parameters = work / "parameters.safetensors"
    save_parameters(model, parameters, program.name)
    name = f"generated_{abs(hash(str(emitted)))}"
    module_spec = importlib.util.spec_from_file_location(name, emitted)
    module = importlib.util.module_from_spec(module_spec)
    sys.modules[name] = module
    try:
        module_spec.loader.exec_module(module)
        emitted_model = module.load_parameters(parameters).eval()
        values = random_values(program, 3, torch.Generator().manual_seed(seed))
        with torch.no_grad():
            expected, actual = model(values), emitted_model(values)
    finally:
        del sys.modules[name]
    if not torch.equal(expected, actual):
        raise PipelineFailure(f"compile: emitted energies {actual} != in-process {expected}")
    if not torch.isfinite(expected).all():
        raise PipelineFailure(f"compile: energies not finite on random inputs: {expected}")


def check_and_compile(spec: Path, work: Path, seed: int = 0) -> None:
    step("check", "check", str(spec))
    emitted = work / "emitted.py"
    step("compile", "compile", str(spec), "-o", str(emitted))
    compare_emitted(spec, emitted, work, seed)


def _finite_samples(path: Path) -> None:
    with np.load(path) as arrays:
        for key, array in arrays.items():
            if "." not in key and array.dtype.kind == "f" and not np.isfinite(array).all():
                raise PipelineFailure(f"sample: non-finite values of `{key}` unreported")


def _finite_metrics(run: Path) -> None:
    for line in (run / "metrics.jsonl").read_text(encoding="utf-8").splitlines():
        row = json.loads(line)
        for key in ("loss", "f_data", "f_samples"):
            value = row.get(key, 0.0)
            if value is None or not math.isfinite(value):
                raise PipelineFailure(f"train: `{key}` is {value} at {row.get('iteration')}")


def end_to_end(
    spec: Path, work: Path, condition: str | None = None, profile: str | None = None
) -> None:
    """check -> compile -> sample (with the condition) -> train (with the profile) -> eval."""
    check_and_compile(spec, work)
    samples = work / "samples.npz"
    given = ["--condition", condition] if condition else []
    step("sample", "sample", str(spec), "--chains", "3", "--steps", "2", "--device", "cpu",
         "-o", str(samples), *given)  # fmt: skip
    _finite_samples(samples)
    run = work / "run"
    chosen = ["--profile", profile] if profile else []
    # E929, a located report that the loss blew up (raw wine data under `x ** 2`, say), is an
    # outcome of the numbers the checker cannot know, not a crash: the property stops there.
    trained = step("train", "train", str(spec), "--out", str(run), "--device", "cpu", *chosen,
                   allow=("E929", spec.name))  # fmt: skip
    if trained is None:
        return
    _finite_metrics(run)
    step("eval", "eval", str(run), "--limit", "4", "--no-images", "--device", "cpu")
    step("sample run", "sample", str(run), "--chains", "2", "--steps", "1", "--device", "cpu")


def refused(spec: Path) -> str:
    """`ebmspec check` must refuse the spec with a located error (exit 1): its stderr."""
    status, _, err = cli("check", str(spec))
    if status != 1 or "error[E" not in err or " --> " not in err and ".ebm:" not in err:
        raise PipelineFailure(f"check: expected a located refusal, got exit {status}\n{err}")
    return err
