"""Run logging on rank 0: progress (a tqdm bar on a terminal, plain lines in a log), metrics.jsonl (one flushed line
per record), TensorBoard events, loss.png.

With a time limit (`--max-minutes`) the number of steps that will run is not known in advance: the bar's total is
then re-estimated from the step rate after every step (never above the step limit), and set to the steps actually
run when the run ends — so the bar ends full instead of at, say, 27% of a step limit the clock never reached.
"""

from __future__ import annotations

import json
import logging
import time
from collections.abc import Callable
from pathlib import Path
from typing import IO, Any

from qgen.core.console import progress
from qgen.core.files import atomic_write, write_jsonl
from qgen.training.state import LogWindow, StepResult, TrainState

log = logging.getLogger(__name__)


class RunLogger:
    """Everything is a no-op on ranks other than 0, so the loop can call it unconditionally."""

    def __init__(self, output_dir: str | Path, enabled: bool, total_steps: int, start_step: int = 0,
                 time_limit_s: float = 0.0, stream: IO[str] | None = None,
                 clock: Callable[[], float] = time.monotonic):
        self.enabled = enabled
        self.max_steps, self.time_limit_s, self.clock = total_steps, time_limit_s, clock
        self.started, self.start_step = clock(), start_step
        self.dir = Path(output_dir)
        self.metrics_path = self.dir / "metrics.jsonl"
        self.bar: Any = None  # a tqdm bar (qgen.core.console.progress)
        self.tb: Any = None  # a TensorBoard SummaryWriter
        self._file: IO[str] | None = None
        if not enabled:
            return
        self.dir.mkdir(parents=True, exist_ok=True)
        if start_step and self.metrics_path.is_file():  # resumed: drop records the interrupted run wrote after last/
            write_jsonl(self.metrics_path, [r for r in self.read() if r.get("step", 0) <= start_step])
        elif not start_step:
            self.metrics_path.unlink(missing_ok=True)
        self._file = open(self.metrics_path, "a", encoding="utf-8")
        self.bar = progress(total_steps, "train", "step", initial=start_step, stream=stream, clock=clock)
        try:
            from torch.utils.tensorboard import SummaryWriter  # tensorboard: optional, and only on rank 0

            self.tb = SummaryWriter(str(self.dir / "tensorboard"), purge_step=start_step or None)
        except ImportError:  # tensorboard not installed: the JSONL and the plot still work
            log.warning("tensorboard is not installed; no TensorBoard events")

    def read(self) -> list[dict]:
        """The records of metrics.jsonl so far (a resumed run keeps those up to its step)."""
        if not self.metrics_path.is_file():
            return []
        return [json.loads(line) for line in self.metrics_path.read_text(encoding="utf-8").splitlines() if line.strip()]

    def write(self, record: dict) -> None:
        """One record: a flushed metrics.jsonl line, its numbers as TensorBoard scalars, validation on the bar."""
        if self._file is None:  # not rank 0
            return
        self._file.write(json.dumps(record, ensure_ascii=False) + "\n")
        self._file.flush()
        if self.tb is not None:
            for k, v in record.items():
                if k not in ("step", "epoch", "event") and isinstance(v, (int, float)):
                    self.tb.add_scalar(f"{record.get('event', 'train')}/{k}", v, record["step"])
        if record.get("event") == "valid":
            self.bar.write(f"step {record['step']}: " + ", ".join(
                f"{k} {v:.4f}" for k, v in record.items() if isinstance(v, float)))

    def progress(self, steps: int, **postfix: float | int | str) -> None:
        """Advance the bar by `steps` with `postfix` beside it (under a time limit, its total re-estimated)."""
        if self.enabled:
            if self.time_limit_s:
                self._estimate_total(steps)
            self.bar.set_postfix({k: (f"{v:.3g}" if isinstance(v, float) else v) for k, v in postfix.items()}, refresh=False)
            self.bar.update(steps)

    def _estimate_total(self, steps: int) -> None:
        """Under a time limit: steps so far + the time left × the step rate so far, at most the step limit."""
        n = self.bar.n + steps
        elapsed = self.clock() - self.started
        if elapsed <= 0 or n <= self.start_step:
            return
        left = max(self.time_limit_s - elapsed, 0.0)
        self.bar.total = min(self.max_steps, n + round(left * (n - self.start_step) / elapsed))

    def nonfinite(self, progress: TrainState, result: StepResult) -> None:
        """The `nonfinite` record of a skipped step."""
        self.write({"event": "nonfinite", "step": progress.step, "loss": result.loss_sum / max(result.tokens, 1),
                    "grad_norm": result.grad_norm, "consecutive": progress.consecutive_nonfinite})

    def step(self, progress: TrainState, result: StepResult, window: LogWindow, lr: float, every: int,
             total: int) -> LogWindow:
        """The `train` record (every `every` steps and at the last) and the progress bar; returns the window to
        use next."""
        if not result.nonfinite:
            window.loss_sum += result.loss_sum
            window.tokens += result.tokens
        window.input_tokens += result.input_tokens
        if progress.step % every == 0 or progress.step == total:
            elapsed = time.perf_counter() - window.since
            loss = window.loss_sum / window.tokens if window.tokens else float("nan")
            self.write({"event": "train", "step": progress.step, "epoch": progress.epoch, "loss": loss, "lr": lr,
                        "grad_norm": result.grad_norm, "tokens_per_s": window.input_tokens / max(elapsed, 1e-9),
                        "skipped": progress.skipped})
            window = LogWindow()
        self.progress(1, loss=result.loss_sum / max(result.tokens, 1), lr=lr,
                      tok_s=int(result.input_tokens / (time.perf_counter() - result.started)), skipped=progress.skipped)
        return window

    def message(self, text: str) -> None:
        """A line above the bar (rank 0 only)."""
        if self.enabled:
            self.bar.write(text)

    def close(self) -> None:
        """End the bar, close the files, draw loss.png (a failed plot is a warning, never a failed run)."""
        if self._file is None:  # not rank 0
            return
        if self.time_limit_s:  # the estimate is over: the total is what ran
            self.bar.total = self.bar.n
        self.bar.close()
        self._file.close()
        if self.tb is not None:
            self.tb.close()
        try:
            plot_losses(self.read(), self.dir / "loss.png")
        except Exception as e:  # a missing plot must not fail a finished run
            log.warning("could not draw loss.png: %s", e)


def plot_losses(records: list[dict], path: str | Path) -> None:
    """Train and validation loss against the optimiser step, written atomically."""
    import matplotlib  # matplotlib: only when loss.png is drawn

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt  # after use("Agg"): no display needed

    train = [(r["step"], r["loss"]) for r in records if r.get("event") == "train" and "loss" in r]
    valid = [(r["step"], r["valid_loss"]) for r in records if r.get("event") == "valid" and "valid_loss" in r]
    fig, ax = plt.subplots(figsize=(6, 4))
    if train:
        ax.plot(*zip(*train), label="train loss", linewidth=1)
    if valid:
        ax.plot(*zip(*valid), "o-", label="validation loss")
    ax.set_xlabel("optimiser step")
    ax.set_ylabel("loss (per target token)")
    if train or valid:  # an empty legend is a matplotlib warning
        ax.legend()
    ax.grid(alpha=0.3)
    fig.tight_layout()
    with atomic_write(path, "wb") as f:
        fig.savefig(f, format="png", dpi=100)
    plt.close(fig)
