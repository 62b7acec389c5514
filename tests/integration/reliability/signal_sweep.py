"""A SIGTERM at every bytecode of a pause: run as `python signal_sweep.py` by test_signals.py, under a deadline.

A Python signal handler runs in the main thread between two of its bytecodes, wherever that thread is. The reliability
tests signal a run while it waits in `pause_point`, so train.py's handler (StopOnSignal, which calls `wake_paused`)
must work at every point of that wait. Here each pause gets one SIGTERM, sent by a trace function at opcode event
number n, for every n of a pause whose wait loop goes round a few times: a handler that deadlocks at one of them (it took a
lock the interrupted code held, as threading.Event.set did) hangs this process, which the test reports with its
stack. Prints `swept N points` and exits 0 when every pause woke with the signal recorded.
"""

from __future__ import annotations

import os
import signal
import sys
from collections import Counter

from qgen.core import files
from qgen.training.guards import StopOnSignal

POINT = "sweep"
CYCLES = 5  # times the wait loop goes round in the pause that counts the points


def pause(at: int | None = None) -> int:
    """One pause_point wait under StopOnSignal, signalled before opcode event number `at` (None: before the first
    bytecode that runs for the CYCLES-th time, i.e. after the wait loop went round CYCLES - 1 times); returns the
    number of the opcode event the signal came before."""
    count, seen = 0, Counter()

    def opcodes(frame, event, arg):
        nonlocal count
        if event == "opcode" and sent_at[0] is None:
            count += 1
            seen[frame.f_code, frame.f_lasti] += 1
            if count == at or (at is None and seen[frame.f_code, frame.f_lasti] >= CYCLES):
                sent_at[0] = count
                os.kill(os.getpid(), signal.SIGTERM)
        return opcodes

    def calls(frame, event, arg):
        frame.f_trace_opcodes = True
        return opcodes

    sent_at = [None]
    with StopOnSignal() as stop:
        sys.settrace(calls)
        try:
            files.pause_point(POINT)
        finally:
            sys.settrace(None)
    assert stop.signum == signal.SIGTERM, f"signal at opcode {sent_at[0]}: the handler did not record it"
    assert sent_at[0] is not None and (at is None or sent_at[0] == at), "the pause returned before its signal"
    return sent_at[0]


def main() -> None:
    os.environ[files.TEST_PAUSE_ENV] = POINT
    files.PAUSE_POLL_S = 0.001  # a few hundred pauses stay quick; what is swept is counted in bytecodes, not time
    points = pause()
    for n in range(1, points + 1):
        pause(at=n)
    print(f"swept {points} points")


if __name__ == "__main__":
    main()
