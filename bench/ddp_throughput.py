"""Training iterations per second on one process vs two data-parallel processes (torchrun, gloo).

In: a spec and profile (default: `specs/dsprites_joint.ebm --profile cpu`, the dSprites network of
paper 004 with its 20-sweep jem(generative = conditional) iteration). Out: one line per layout with
iterations/s of the training loop (the run's own `train_seconds`, which leaves out start-up and
the final evaluation), then `data_parallel_vs_one_thread=` and `data_parallel_vs_threads=`
(iterations/s of the data-parallel run over each one-process run) as the last lines.

Layouts, run one after the other on the same global batch and iteration count:

* one process, one thread (`OMP_NUM_THREADS=1`);
* one process, `--threads` threads (default 2: all of a 2-core machine);
* `--nproc` processes (default 2) under torchrun (`ebmspec train --nproc`), one thread each: each
  computes half of every batch and runs half of the negative chains; DDP averages the gradients;
* with `--capture MODE` (`compile`, `graphs`), also one process with `--threads` threads and the
  negative chains' sweeps captured (`ebmspec train --capture MODE`; its compilation counts), and
  `captured_vs_threads=` (its iterations/s over the eager run's with as many threads).

Nothing else heavy may run beside it: check `uptime` first and report the load with the numbers.
Run: `python bench/ddp_throughput.py [--spec S --profile P --iterations N] [--capture MODE]`.
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


def train_rate(
    spec: Path, profile: str, iterations: int, threads: int, nproc: int, capture: str = "off"
) -> float:
    """Iterations per second of the training loop of one `ebmspec train` run."""
    with tempfile.TemporaryDirectory() as work:
        command = [sys.executable, "-m", "ebmspec", "train", str(spec), "--profile", profile]
        command += ["--set", f"train.iterations={iterations}", "--device", "cpu"]
        command += ["--set", f"train.eval_every={10 * iterations}", "--out", "runs/bench"]
        command += ["--set", f"train.checkpoint_every={10 * iterations}"]
        if nproc > 1:
            command += ["--nproc", str(nproc)]
        command += ["--capture", capture]
        env = dict(os.environ, OMP_NUM_THREADS=str(threads), PYTHONPATH=str(ROOT))
        done = subprocess.run(command, cwd=work, env=env, capture_output=True, text=True)
        if done.returncode != 0:
            sys.exit(f"training failed:\n{done.stderr[-3000:]}")
        info = json.loads((Path(work) / "runs" / "bench" / "checkpoint.json").read_text())
        return info["iteration"] / info["train_seconds"]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--spec", type=Path, default=ROOT / "specs" / "dsprites_joint.ebm")
    parser.add_argument("--profile", default="cpu")
    parser.add_argument("--iterations", type=int, default=40)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--nproc", type=int, default=2)
    parser.add_argument("--capture", choices=("compile", "graphs"), default=None)
    args = parser.parse_args()
    print(f"{args.spec.name} --profile {args.profile}, {args.iterations} iterations per layout")
    one = train_rate(args.spec, args.profile, args.iterations, 1, 1)
    print(f"one process, 1 thread:      {one:8.3f} it/s")
    threaded = train_rate(args.spec, args.profile, args.iterations, args.threads, 1)
    print(f"one process, {args.threads} threads:     {threaded:8.3f} it/s")
    data_parallel = train_rate(args.spec, args.profile, args.iterations, 1, args.nproc)
    print(f"{args.nproc} processes, 1 thread each: {data_parallel:8.3f} it/s")
    if args.capture is not None:
        captured = train_rate(
            args.spec, args.profile, args.iterations, args.threads, 1, args.capture
        )
        print(
            f"one process, {args.threads} threads, --capture {args.capture}: {captured:8.3f} it/s"
        )
        print(f"captured_vs_threads={captured / threaded:.3f}")
    print(f"data_parallel_vs_one_thread={data_parallel / one:.3f}")
    print(f"data_parallel_vs_threads={data_parallel / threaded:.3f}")


if __name__ == "__main__":
    main()
