"""Stopping a training run cleanly: Ctrl-C / SIGTERM at an iteration boundary, and, with several
processes, the per-iteration agreement on the loss and on a stop request. `Signals` is a part
of `trainer.Trainer`, as Lightning's signal connector is of its trainer.

In: signals, each iteration's loss and its parts. Out: `stopping`, and the loss as a float (the
mean over the processes when there are several, so every process rolls back and stops at the
same iteration - one deciding alone would leave the others waiting in a collective forever).
"""

from __future__ import annotations

import signal
import threading

import torch

from ebmspec.runtime.training import distributed


class Signals:
    """Signal handling and the processes' agreement on loss and stop. `stop`: this process was
    asked to stop (by a signal, or by a caller such as a bench that stops a run itself)."""

    def __init__(self, ranks: distributed.Ranks, monitor) -> None:
        self.ranks, self.monitor = ranks, monitor
        self.stop = self._stop_agreed = False

    def agree(self, loss: torch.Tensor, parts: dict) -> tuple[float, dict]:
        """The loss as a float and its parts; with several processes their means over the
        processes (= the global batch's), and whether any process was asked to stop."""
        if self.ranks.world == 1:
            return float(loss.detach()), parts
        stop = torch.tensor(float(self.stop), device=loss.device)
        local = torch.stack([loss.detach(), *(parts[k].detach() for k in parts), stop])
        agreed = distributed.mean(local.float(), self.ranks).tolist()  # one device sync
        self._stop_agreed = agreed[-1] > 0
        return agreed[0], dict(zip(parts, agreed[1:-1], strict=True))

    @property
    def stopping(self) -> bool:
        """A stop was requested (with several processes: of any of them, agreed on)."""
        return self.stop if self.ranks.world == 1 else self._stop_agreed

    def _request_stop(self, signum, frame) -> None:
        # A second signal stops right now - except under torchrun, whose agent passes the
        # terminal's Ctrl-C on to its workers again (and kills them itself after a timeout).
        if self.stop and not distributed.launched():
            raise KeyboardInterrupt
        self.stop = True
        self.monitor.warn(
            f"{signal.Signals(signum).name}: stopping after this iteration (checkpoint first); "
            "Ctrl-C again to abort"
        )

    def catch(self) -> dict:
        """Ctrl-C (SIGINT) and SIGTERM (`kill`, `timeout`, a cluster's scheduler) stop training
        at the next iteration boundary with a checkpoint. Only signals still at their default
        handling are taken over: a SIGINT a shell set to ignored (a background job) stays so."""
        if threading.current_thread() is not threading.main_thread():
            return {}
        previous = {}
        for signum, default in (
            (signal.SIGINT, signal.default_int_handler),
            (signal.SIGTERM, signal.SIG_DFL),
        ):
            if signal.getsignal(signum) is default:
                previous[signum] = signal.signal(signum, self._request_stop)
        return previous

    @staticmethod
    def release(previous: dict) -> None:
        for signum, handler in previous.items():
            signal.signal(signum, handler)
