"""`qgen serve`'s settings: where models come from, the caps every request is held to, and the batching knobs.

The caps bound the work one request can ask for (text length, questions, beams, generated tokens), so that one request
cannot stall the others; `qgen.cli.serve` derives its flags from this dataclass.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import TypeVar

T = TypeVar("T")


def _f(default: T, help_: str) -> T:
    return field(default=default, metadata={"help": help_})


@dataclass
class ServeSettings:
    """Everything `qgen serve` is started with (its flags are derived from these fields and their help)."""

    model: str = _f("qgen-small-ja", "default model: a shipped model's name, a checkpoint name under --models, or a "
                                     "checkpoint directory")
    models: Path | None = _f(None, "directory whose checkpoints (folders with config.json and input_spec.json) are "
                                   "offered by name, e.g. runs/")
    host: str = _f("127.0.0.1", "address to listen on (anything but loopback prints a warning)")
    port: int = _f(8000, "port (0: any free port)")
    device: str = _f("cpu", "torch device (cpu, cuda, auto)")
    max_body_bytes: int = _f(65_536, "largest request body (larger: 413)")
    max_context_chars: int = _f(4_000, "longest context / paragraph in characters (longer: 413)")
    max_text_chars: int = _f(500, "longest question, answer or choice in characters (longer: 413)")
    max_questions: int = _f(8, "most questions one request may ask for")
    max_beams: int = _f(8, "widest beam one request may ask for")
    max_new_tokens: int = _f(64, "most tokens generated for one question")
    max_choices: int = _f(10, "most choices of a quiz question")
    max_batch: int = _f(16, "most requests run as one batch (1: no batching)")
    batch_wait_ms: float = _f(5.0, "how long a request waits for others to batch with")
    timeout_s: float = _f(120.0, "a request still waiting for the model after this long gets 503")

    def __post_init__(self) -> None:
        self.models = None if self.models is None else Path(self.models)
        for name in ("max_body_bytes", "max_context_chars", "max_text_chars", "max_questions", "max_beams",
                     "max_new_tokens", "max_batch"):
            if getattr(self, name) < 1:
                raise ValueError(f"{name} must be at least 1")
        if self.max_choices < 2:
            raise ValueError("max_choices must be at least 2")
        if not 0 <= self.port <= 65535:
            raise ValueError(f"port must be 0..65535, not {self.port}")
        if not (math.isfinite(self.batch_wait_ms) and 0 <= self.batch_wait_ms <= 1000):
            raise ValueError("batch_wait_ms must be 0..1000")
        if not (math.isfinite(self.timeout_s) and self.timeout_s > 0):
            raise ValueError("timeout_s must be positive")

    @property
    def loopback(self) -> bool:
        """Listening on the loopback interface only (anything else is reachable by others: the CLI warns)."""
        return self.host in ("127.0.0.1", "localhost", "::1")
