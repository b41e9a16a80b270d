"""`ebmspec` run with a SIGKILL at its K-th write under `runs/`: a crash between two writes.

    python -m tests.crash.kill_at K EVENTS -- train SPEC ...

A `sys.audit` hook (no change to ebmspec itself) sees every operation that changes a file or
folder under `./runs/`: an open for writing (tempfile's included), a rename / replace, a remove,
a hard or symbolic link, a truncate, a mkdir. Before the K-th of them it sends SIGKILL to its own
process, so the run stops with the first K-1 done and the K-th not begun, as a power cut or the
kernel's OOM killer would stop it there, and writes that operation to EVENTS. K = 0 kills
nothing; then every operation is written to EVENTS, one `seconds-since-start event path` line
each, for the test to choose its instants from. The bytes written after an open (safetensors' own
I/O included) raise no event: a kill among them is a kill at a random time, which
tests/crash/test_kills.py draws as well.
"""

from __future__ import annotations

import os
import signal
import sys
import time

WRITE_FLAGS = os.O_WRONLY | os.O_RDWR | os.O_CREAT | os.O_APPEND | os.O_TRUNC
# event -> the positions of its path arguments (`os.rename` is also what os.replace raises)
PATHS = {
    "open": (0,),
    "os.rename": (0, 1),
    "os.remove": (0,),
    "os.link": (0, 1),
    "os.symlink": (1,),
    "os.truncate": (0,),
    "os.mkdir": (0,),
    "os.rmdir": (0,),
    "shutil.rmtree": (0,),
    "shutil.copyfile": (1,),
}


def _writes(event: str, args: tuple) -> bool:
    if event != "open":
        return True
    mode, flags = args[1], args[2]
    if isinstance(mode, str):
        return any(c in mode for c in "wax+")
    return isinstance(flags, int) and bool(flags & WRITE_FLAGS)


def install(at: int, root: str, events: str) -> list[str]:
    """The hook; returns the list it records the operations in. The one it kills at is written
    to `events` first (TensorBoard writes from a thread of its own, so the K-th operation of a
    run is not always the same one)."""
    seen: list[str] = []
    began = time.monotonic()  # about the process's start: only `python -m` came before
    prefix = os.path.join(root, "runs") + os.sep

    def hook(event: str, args: tuple) -> None:
        where = PATHS.get(event)
        if where is None or not _writes(event, args):
            return
        paths = [args[i] for i in where if i < len(args)]
        paths = [os.fsdecode(p) for p in paths if isinstance(p, (str, bytes, os.PathLike))]
        full = [os.path.abspath(p) for p in paths]
        if not any(p.startswith(prefix) or p + os.sep == prefix for p in full):
            return
        seen.append(f"{time.monotonic() - began:.3f} {event} {os.path.relpath(full[-1], root)}")
        if len(seen) == at:
            with open(events, "w", encoding="utf-8") as stream:
                stream.write(seen[-1].split(" ", 1)[1] + "\n")
            os.kill(os.getpid(), signal.SIGKILL)

    sys.addaudithook(hook)
    return seen


def main() -> None:
    at, events = int(sys.argv[1]), sys.argv[2]
    if sys.argv[3] != "--":
        raise SystemExit("usage: python -m tests.crash.kill_at K EVENTS -- COMMAND ARGS")
    seen = install(at, os.getcwd(), events)
    sys.argv = ["ebmspec", *sys.argv[4:]]
    from ebmspec.cli import main as cli

    try:
        cli()
    finally:
        if at == 0:
            text = "".join(line + "\n" for line in seen)
            with open(events, "w", encoding="utf-8") as stream:
                stream.write(text)


if __name__ == "__main__":
    main()
