"""What keeps a run safe to stop: one run per output directory (a lock) and a graceful stop on SIGINT / SIGTERM /
SIGHUP."""

from __future__ import annotations

import contextlib
import logging
import os
import signal
import threading
from collections.abc import Iterator
from pathlib import Path
from types import FrameType

from qgen.core.errors import QgenInputError
from qgen.core.files import DirLock, DirLockedError, wake_paused
from qgen.training.distributed import ddp as distributed
from qgen.training.distributed.ddp import DistInfo

log = logging.getLogger("qgen.training.loop")  # the loop's logger: one name to filter a run's messages by


class TrainingDiverged(RuntimeError):
    """Too many consecutive non-finite steps; `last/` holds the last good state."""


class TrainingInterrupted(RuntimeError):
    """SIGINT / SIGTERM: the run finished its current step, saved `last/` and stopped; `--resume` continues exactly."""

    def __init__(self, signum: int, step: int, last_dir: str | Path):
        self.signum, self.step, self.last_dir = signum, step, str(last_dir)
        super().__init__(f"{signal.Signals(signum).name} received: stopped after step {step}; "
                         f"{last_dir} holds its full state")


class StopOnSignal:
    """The first SIGINT (Ctrl-C), SIGTERM or SIGHUP (its terminal closed) sets `signum`, which the loop checks at the
    end of each step; a second one stops at once (SIGINT: KeyboardInterrupt, others: the default action, except under
    torchrun, where a second SIGTERM is the launcher forwarding the same request) — checkpoints are atomic, so nothing
    is left half-written. Handlers are installed only in the main thread and restored afterwards."""

    SIGNALS = (signal.SIGINT, signal.SIGTERM, *([signal.SIGHUP] if hasattr(signal, "SIGHUP") else []))

    def __init__(self) -> None:
        self.signum: int | None = None
        self._previous: dict = {}

    def __enter__(self) -> StopOnSignal:
        if threading.current_thread() is threading.main_thread():
            for s in self.SIGNALS:
                self._previous[s] = signal.signal(s, self._handle)
        return self

    def __exit__(self, *exc: object) -> None:
        for s, handler in self._previous.items():
            if s == signal.SIGTERM and self.signum is not None and distributed.under_torchrun():
                # stopping on a SIGTERM already: torchrun's copy, sent when the first rank exits, must not cut the
                # others' exit short (their exit code stays 143; torchrun SIGKILLs after its --shutdown-timeout)
                handler = signal.SIG_IGN
            signal.signal(s, handler if handler is not None else signal.SIG_DFL)

    def _handle(self, signum: int, frame: FrameType | None) -> None:
        """Runs in the main thread between two of its bytecodes, wherever it is: it takes no lock (no logging, print or
        threading.Event), since the interrupted code may hold it and the handler would wait on itself for good."""
        if self.signum is not None:
            if signum == signal.SIGTERM and distributed.under_torchrun():
                # SLURM signals every process of the step, and torchrun forwards its own SIGTERM too: the second
                # copy is the same request (torchrun SIGKILLs the workers after its --shutdown-timeout)
                return
            if signum == signal.SIGINT:
                raise KeyboardInterrupt
            signal.signal(signum, signal.SIG_DFL)
            os.kill(os.getpid(), signum)
            return
        self.signum = signum
        # os.write, not print: the handler may run while the main thread is inside a write to stderr (tqdm)
        with contextlib.suppress(OSError):  # after SIGHUP the terminal may be gone: the save matters, not the note
            os.write(2, f"\n{signal.Signals(signum).name}: stopping after this step and saving last/ "
                        f"(send it again to stop at once)\n".encode())
        wake_paused()


@contextlib.contextmanager
def output_lock(out: Path, process: DistInfo) -> Iterator[None]:
    """One training run per output directory: rank 0 holds DirLock; every rank learns when it could not."""
    lock, error = None, None
    if process.is_main:
        try:
            lock = DirLock(out).acquire()
        except DirLockedError as e:
            error = e
    if distributed.any_(error is not None, process):
        raise QgenInputError(str(error or "in use by another run"), path=out, field="output_dir")
    if lock is not None and lock.previous:
        log.warning("took over the lock left by a run that is no longer running (%s)", lock.previous)
    try:
        yield
    finally:
        if lock is not None:
            lock.release()
