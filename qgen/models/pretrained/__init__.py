"""Models shipped inside the package (`--model qgen-small-ja`): weights, tokenizer, saved input settings, model card.

Each is an ordinary Hugging Face directory, so `AutoModelForSeq2SeqLM.from_pretrained(path(name))` loads it; the
weights are stored in fp16 to keep the wheel small and load as fp32 (the config says so).
"""

from __future__ import annotations

from pathlib import Path

from qgen.core.errors import PathArg

HERE = Path(__file__).resolve().parent
BUILTIN_MODELS = ("qgen-small-ja",)


def is_builtin(name: PathArg) -> bool:
    """Whether `name` means a shipped model, which resolves to the package's directory rather than the hub."""
    return str(name) in BUILTIN_MODELS


def path(name: str) -> Path:
    """The directory of a shipped model."""
    if not is_builtin(name):
        raise ValueError(f"unknown built-in model {name!r}; choose from {BUILTIN_MODELS}")
    return HERE / name
