"""The memory `ebmspec check` estimates against the peak a short training run measures.

In: shipped specs (default: the five with the largest estimates), each trained for a few iterations
in its own process, one torch thread. Out: one line per spec - estimate, measured peak and their
ratio - then `memory_estimate_ratio_min=... max=...` (issue 31, item 3 asks for every ratio within
[0.5, 2]).

Measured peak: the process's resident-set high-water mark (Linux VmHWM, reset through
/proc/self/clear_refs once the data set is loaded and torch has run a first backward pass) minus the
resident set at that moment - so it counts what training allocates (weights, optimizer state,
buffer, activations, allocator slack) and not Python, torch or the data, which the estimate leaves
out too.

    python bench/memory.py [--iterations 20] [SPEC ...]
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
DEFAULT = ["dsprites_joint", "mnist_joint", "mnist_jem", "mnist_gc", "mnist_semi"]


def _status(field: str) -> int:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith(field + ":"):
            return int(line.split()[1]) * 1024
    raise RuntimeError(f"no {field} in /proc/self/status")


def measure(spec: Path, iterations: int) -> dict:
    """Run in a child process: train `spec` for `iterations` and return estimate and peak."""
    import torch

    from ebmspec.api import compile_spec, read_source
    from ebmspec.memory import estimate
    from ebmspec.runtime.data import load_dataset
    from ebmspec.runtime.training.trainer import Settings, Trainer

    torch.set_num_threads(1)
    source = read_source(spec)
    settings = [f"train.iterations={iterations}", f"train.eval_every={iterations + 1}"]
    settings.append(f"train.checkpoint_every={iterations}")
    program = compile_spec(source, None, settings)
    expected = estimate(program)
    dataset = load_dataset(program, spec.parent, Settings.of(program).seed, source=source)
    warm = torch.randn(64, 64, requires_grad=True)  # torch's first backward allocates pools
    (warm @ warm).sum().backward()
    Path("/proc/self/clear_refs").write_text("5")  # reset the high-water mark
    base = _status("VmRSS")
    with tempfile.TemporaryDirectory() as folder:
        # no evaluation: it is not training (the final one would run at the last iteration)
        trainer = Trainer(program, dataset, Path(folder) / "run", "cpu", None, None)
        trainer.start(resume=False)
        trainer.run()
    peak = _status("VmHWM") - base
    terms = {t.what: t.bytes for t in expected.terms}
    return {"estimate": expected.total, "peak": peak, "terms": terms}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("specs", nargs="*", default=DEFAULT)
    parser.add_argument("--iterations", type=int, default=20)
    parser.add_argument("--child", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        print(json.dumps(measure(Path(args.child), args.iterations)))
        return
    from ebmspec.memory import size

    ratios = []
    for name in args.specs:
        spec = Path(name) if name.endswith(".ebm") else ROOT / "specs" / f"{name}.ebm"
        command = [sys.executable, __file__, "--child", str(spec)]
        command += ["--iterations", str(args.iterations)]
        # A fixed mmap threshold: glibc otherwise raises it after the data set's large frees and
        # serves later tensors from resident heap pages the high-water mark never sees.
        env = os.environ | {"MALLOC_MMAP_THRESHOLD_": "131072"}
        done = subprocess.run(command, capture_output=True, text=True, cwd=ROOT, env=env)
        if done.returncode != 0:
            sys.exit(f"{spec.name} failed:\n{done.stderr}")
        found = json.loads(done.stdout.strip().splitlines()[-1])
        ratio = found["peak"] / found["estimate"]
        ratios.append(ratio)
        parts = ", ".join(f"{k} {size(v)}" for k, v in found["terms"].items())
        print(
            f"{spec.stem:16s} estimate {size(found['estimate']):>10s}  measured peak "
            f"{size(found['peak']):>10s}  peak/estimate {ratio:5.2f}  ({parts})"
        )
    print(f"memory_estimate_ratio_min={min(ratios):.2f} max={max(ratios):.2f}")


if __name__ == "__main__":
    main()
