"""torch's CPU threads set by the rule of qgen.core.threads (0 = the cores the machine's load leaves free)."""

from __future__ import annotations

import torch

from qgen.core.threads import auto_threads, check_threads


def set_threads(requested: int = 0) -> int:
    """Set torch's CPU threads to `requested` (0: `auto_threads()`) and return the number set."""
    check_threads(requested)
    n = requested or auto_threads()
    torch.set_num_threads(n)
    return n
