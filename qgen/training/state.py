"""What `trainer_state.json` stores: where a run is and how it has gone, restored exactly by `--resume`."""

from __future__ import annotations

import time
from dataclasses import asdict, dataclass, field, fields


@dataclass
class TrainState:
    """The run's counters; `to_json()` is trainer_state.json (same keys, same order as the files older runs wrote, so they still resume)."""

    step: int = 0  # optimiser steps done (skipped non-finite steps count)
    epoch: int = 0
    batch: int = 0  # the next micro-batch of this epoch's batch list
    best_metric: float | None = None
    best_step: int | None = None
    bad_evals: int = 0  # validations in a row without a better metric (early stopping)
    skipped: int = 0  # non-finite steps skipped in all
    consecutive_nonfinite: int = 0
    valid_start: float | None = None  # the metric before the first step

    def to_json(self) -> dict:
        return asdict(self)

    @classmethod
    def from_json(cls, info: dict) -> TrainState:
        """From a checkpoint's trainer_state.json (checked by checkpoint.load_state); unknown keys are ignored."""
        return cls(**{f.name: info[f.name] for f in fields(cls) if f.name in info})


@dataclass
class LogWindow:
    """Sums since the last `train` log line: the logged loss is loss_sum / tokens over the window's finite steps."""

    loss_sum: float = 0.0
    tokens: float = 0.0
    input_tokens: int = 0
    since: float = field(default_factory=time.perf_counter)


@dataclass
class StepResult:
    """One optimiser step as all ranks agree on it."""

    loss_sum: float  # over all ranks
    tokens: float  # target tokens over all ranks
    input_tokens: int
    grad_norm: float
    nonfinite: bool  # skipped: no optimiser/scheduler step
    signalled: bool  # some rank was asked to stop
    started: float  # perf_counter() when the step began (the progress bar's tokens/s)
