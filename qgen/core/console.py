"""What a command shows while it runs: quiet libraries by default, and progress that suits where it is written.

transformers draws a "Loading weights" bar for every checkpoint it loads, a "Writing model shards" bar for every save,
and emits FutureWarnings about its own internals; commands hide all of that unless `--verbose`. A tqdm bar is right
for a terminal, but in a log file (CI, `> log 2>&1`) it is thousands of carriage-return updates, so when the stream
is not a terminal, progress is a plain line after the first update (the rate, early), then every `interval`
seconds, and one at the end unless the last line already showed the end.
"""

from __future__ import annotations

import logging
import sys
import time
import warnings
from collections.abc import Callable
from typing import IO, Any

PLAIN_INTERVAL_S = 30.0  # seconds between plain progress lines


def configure(verbose: bool = False) -> None:
    """Quiet (default): transformers/huggingface_hub bars and warnings off, FutureWarnings ignored. Verbose: all on."""
    from transformers.utils import logging as hf_logging  # transformers is heavy: only when a command configures it

    if verbose:
        hf_logging.set_verbosity_warning()  # transformers' own default
        hf_logging.enable_progress_bar()
        warnings.simplefilter("default", FutureWarning)
        return
    hf_logging.set_verbosity_error()
    hf_logging.disable_progress_bar()
    try:
        from huggingface_hub.utils import disable_progress_bars  # with transformers, as above

        disable_progress_bars()
    except ImportError:  # transformers depends on huggingface_hub; kept optional for safety only
        pass
    warnings.simplefilter("ignore", FutureWarning)
    for name in ("transformers", "huggingface_hub", "peft", "accelerate", "bitsandbytes"):  # bitsandbytes: a warning
        # at import on AVX512-bf16 CPUs that it could not fetch a kernel from the hub (peft imports it for LoRA)
        logging.getLogger(name).setLevel(logging.ERROR)


def _fmt(value: object) -> str:
    return f"{value:.3g}" if isinstance(value, float) else str(value)


class PlainProgress:
    """tqdm's update/set_postfix/write/close for a log file: one `desc: n/total unit (p%), k=v …` line per `interval`
    seconds, never a carriage return. `clock` is injectable so tests need no real time."""

    def __init__(self, total: int, desc: str, unit: str, initial: int = 0, stream: IO[str] | None = None,
                 interval: float = PLAIN_INTERVAL_S, clock: Callable[[], float] = time.monotonic):
        self.total, self.desc, self.unit, self.n = total, desc, unit, initial
        self.stream = stream if stream is not None else sys.stderr
        self.interval, self.clock = interval, clock
        self.postfix: dict = {}
        self.start = self.last = clock()
        self.start_n = initial
        self.printed_n: int | None = None  # n when the last line was printed

    def update(self, n: int = 1) -> None:
        """Count `n` more; a line when none was printed yet (the first rate, early) or `interval` has passed."""
        self.n += n
        if self.printed_n is None or self.clock() - self.last >= self.interval:
            self.print_line()

    def set_postfix(self, postfix: dict | None = None, refresh: bool = False) -> None:
        """tqdm's signature, so callers need not know which progress they hold; shown on the next line."""
        self.postfix = dict(postfix or {})

    def line(self) -> str:
        """The progress line, with the rate since start, so a log shows whether a run slowed down."""
        total = f"/{self.total}" if self.total else ""
        share = f" ({100 * self.n / self.total:.0f}%)" if self.total else ""
        elapsed = self.clock() - self.start
        rate = (self.n - self.start_n) / elapsed if elapsed > 0 else 0.0
        extra = "".join(f", {k} {_fmt(v)}" for k, v in self.postfix.items())
        return f"{self.desc}: {self.n}{total} {self.unit}{share}, {elapsed:.0f} s, {rate:.3g} {self.unit}/s{extra}"

    def print_line(self) -> None:
        """Print `line()` now and remember when, for the interval and for `close`."""
        print(self.line(), file=self.stream, flush=True)
        self.last = self.clock()
        self.printed_n = self.n

    def write(self, text: str) -> None:
        """tqdm.write's counterpart: a message that must not be mixed into progress lines."""
        print(text, flush=True)  # where tqdm.write puts messages: stdout

    def refresh(self) -> None:
        """Nothing to redraw in a log; kept so PlainProgress stands in for a tqdm bar."""
        pass

    def close(self) -> None:
        """The final line, so a log always ends with where the work stopped."""
        if self.printed_n != self.n:  # the last update may have printed the final line already
            self.print_line()


class PhaseTimer:
    """Wall time of a command's phases (import, load, generate …), printed to stderr as one line per phase when
    `show` (`--verbose`): where a slow call spends its time, without a profiler."""

    def __init__(self, show: bool, stream: IO[str] | None = None, clock: Callable[[], float] = time.perf_counter):
        self.show, self.stream, self.clock = show, stream, clock
        self.last = clock()
        self.phases: dict[str, float] = {}

    def done(self, phase: str) -> float:
        """End `phase` and start the next one; its seconds, so a caller can also report them."""
        now = self.clock()
        self.phases[phase] = now - self.last
        self.last = now
        if self.show:
            print(f"time: {phase} {self.phases[phase]:.2f} s", file=self.stream or sys.stderr, flush=True)
        return self.phases[phase]


def is_terminal(stream: Any) -> bool:
    """Whether a bar can be drawn there: a closed or file-like stream without isatty is no terminal."""
    try:
        return bool(stream.isatty())
    except (AttributeError, ValueError):  # no isatty, or a closed stream
        return False


def progress(total: int, desc: str, unit: str, initial: int = 0, stream: IO[str] | None = None, **plain: Any) -> Any:
    """A tqdm bar when `stream` (default stderr) is a terminal, else PlainProgress (keyword options go to it)."""
    stream = stream if stream is not None else sys.stderr
    if is_terminal(stream):
        from tqdm.auto import tqdm  # ~0.1 s (it probes for a notebook): only when a terminal shows a bar

        return tqdm(total=total, initial=initial, desc=desc, unit=unit, dynamic_ncols=True, file=stream)
    return PlainProgress(total, desc, unit, initial=initial, stream=stream, **plain)
