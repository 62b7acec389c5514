"""The models a server offers, by name: the shipped ones and the checkpoints found under `--models` at start-up.

A request names a model; the name is looked up in this table and nothing else, so no request can make the server
read a path. A checkpoint under the models directory is a folder with config.json and input_spec.json (what
`train.py` writes into best/, last/, merged and exported directories); its name is its path relative to that
directory (`demo/best`). Models are loaded on first use, once (a lock per model).
"""

from __future__ import annotations

import json
import os
import threading
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

from qgen.core.errors import QgenInputError
from qgen.models import pretrained
from qgen.models.input_spec import INPUT_SPEC_NAME, read_input_spec

if TYPE_CHECKING:  # the engine imports this module (and torch): only the type is named here
    from qgen.serve.engine import LoadedModel

MAX_DEPTH = 4  # how deep under --models checkpoints are looked for (runs/NAME/train/best is depth 3)


@dataclass
class ModelEntry:
    """One model a request may name: what GET /v1/models says of it, and the model once loaded (once, under `lock`)."""

    name: str
    path: Path
    kind: str  # "seq2seq" | "causal"
    task: str
    lang: str
    loaded: LoadedModel | None = None
    lock: threading.Lock = field(default_factory=threading.Lock, repr=False)

    def describe(self, default: str) -> dict[str, str | bool]:
        """Its row of GET /v1/models (`default`: the name of the server's default model)."""
        return {"name": self.name, "kind": self.kind, "task": self.task, "lang": self.lang,
                "loaded": self.loaded is not None, "default": self.name == default}


def _entry(name: str, path: Path) -> ModelEntry:
    try:
        config = json.loads((path / "config.json").read_text(encoding="utf-8"))
    except (OSError, ValueError) as e:
        raise QgenInputError(f"cannot read config.json: {e}", path=path) from None
    spec = read_input_spec(path)
    if spec is None:
        raise QgenInputError(f"no {INPUT_SPEC_NAME} (or qgen_config.yaml): not a qgen checkpoint", path=path)
    kind = "seq2seq" if config.get("is_encoder_decoder") else "causal"
    return ModelEntry(name, path, kind, spec.task, spec.lang)


def discover(root: Path) -> list[tuple[str, Path]]:
    """(name, directory) of every checkpoint under `root` (config.json + input_spec.json), sorted by name."""
    root = Path(root)
    if not root.is_dir():
        raise QgenInputError("not a directory", path=root, field="--models")
    found = []
    for dirpath, dirnames, filenames in os.walk(root):
        depth = len(Path(dirpath).relative_to(root).parts)
        dirnames[:] = sorted(d for d in dirnames if not d.startswith(".")) if depth < MAX_DEPTH else []
        if "config.json" in filenames and INPUT_SPEC_NAME in filenames:
            rel = Path(dirpath).relative_to(root).as_posix()
            found.append((rel if rel != "." else root.name, Path(dirpath)))
    return sorted(found)


class Registry:
    """Name → ModelEntry. `default` is the name of the model used when a request names none."""

    def __init__(self, default: str, models_dir: Path | None = None) -> None:
        self.entries: dict[str, ModelEntry] = {}
        for name in pretrained.BUILTIN_MODELS:
            self.entries[name] = _entry(name, pretrained.path(name))
        self.skipped: list[str] = []  # checkpoints under models_dir that cannot be offered, with the reason
        if models_dir is not None:
            for name, path in discover(models_dir):
                try:
                    self.entries[name] = _entry(name, path)
                except QgenInputError as e:
                    self.skipped.append(str(e))
        if default not in self.entries:
            path = Path(default)
            if not path.is_dir():
                raise QgenInputError(f"not a model name ({', '.join(self.entries)}) nor a checkpoint directory",
                                     field="--model")
            name = path.resolve().name
            self.entries[name] = _entry(name, path)
            default = name
        self.default = default

    def get(self, name: str | None) -> ModelEntry:
        """The entry of `name` (None: the default); KeyError for a name not in the table."""
        return self.entries[self.default if name is None else name]

    def describe(self) -> list[dict[str, str | bool]]:
        """The rows of GET /v1/models."""
        return [e.describe(self.default) for e in self.entries.values()]
