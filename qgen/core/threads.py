"""How many CPU threads torch's operators get: every command's `--threads` (0 = chosen from the machine's load).

torch starts one OpenMP thread per core. On a machine where other jobs already keep the cores busy that
oversubscribes them: the threads of one operator wait for each other while the scheduler runs someone else's work,
and a T5 training step ran 2.6x slower with torch's 2 threads than with 1 on a loaded 2-core machine (issue 29;
the side-by-side figures are in the README, "CPU threads"). So `0` (every command's default) means: the cores this
process may use minus the other work the 1-minute load average shows, at least 1 — all cores on an idle machine,
1 on a busy one. The load is read once, when the command starts (before it adds its own). OMP_NUM_THREADS, when set,
is taken as the user's choice (torchrun sets it to 1 per process). No torch here (evaluation uses the rule for its
worker processes); qgen.models.threads.set_threads applies it to torch.
"""

from __future__ import annotations

import os
from collections.abc import Mapping

THREADS_HELP = ("CPU threads for torch's operators (0 = the cores the machine's load leaves free, at least 1; "
                "OMP_NUM_THREADS, when set, decides)")
MAX_THREADS = 256  # far above any CPU a command runs on; torch crashes on absurd counts (100000 segfaults)


def usable_cores() -> int:
    """The cores this process may run on (its CPU affinity, e.g. a container's limit), at least 1."""
    if hasattr(os, "sched_getaffinity"):
        return max(1, len(os.sched_getaffinity(0)))
    return max(1, os.cpu_count() or 1)


def load_average() -> float:
    """The 1-minute load average (runnable processes), 0.0 where the system has none (Windows)."""
    try:
        return os.getloadavg()[0]
    except (AttributeError, OSError):
        return 0.0


def auto_threads(cores: int | None = None, load: float | None = None, environ: Mapping[str, str] | None = None) -> int:
    """Threads that leave the busy cores to the work already on them: round(cores - load) within [1, cores], the
    cores shared among the processes of one torchrun node (LOCAL_WORLD_SIZE); OMP_NUM_THREADS, when set, decides."""
    environ = os.environ if environ is None else environ
    omp = environ.get("OMP_NUM_THREADS", "")
    if omp.isdigit() and 1 <= int(omp) <= MAX_THREADS:  # the user's (or the launcher's) own choice
        return int(omp)
    cores = usable_cores() if cores is None else cores
    local = environ.get("LOCAL_WORLD_SIZE", "1")
    cores = max(1, cores // int(local)) if local.isdigit() and int(local) > 1 else cores
    load = load_average() if load is None else load
    return max(1, min(cores, round(cores - load)))


def check_threads(requested: int) -> None:
    """ValueError unless `requested` is 0 (auto) or a count up to MAX_THREADS; the caller names the setting."""
    if isinstance(requested, bool) or not isinstance(requested, int) or not 0 <= requested <= MAX_THREADS:
        raise ValueError(f"must be 0 (chosen from the machine's load) or 1 to {MAX_THREADS}, got {requested!r}")


def describe(requested: int, n: int) -> str:
    """`2 threads` / `1 thread (load 1.4 on 2 cores)`: the count a command uses, and why when it was chosen."""
    word = "thread" if n == 1 else "threads"
    if requested:
        return f"{n} {word}"
    return f"{n} {word} (load {load_average():.1f} on {usable_cores()} cores; --threads N to choose)"
