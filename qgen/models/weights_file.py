"""Is a safetensors weights file whole? Checked from its header alone, before any loader reads it.

Training checks its checkpoints with it before `--resume`, inference before loading, so a truncated file is one
error naming it rather than a loader traceback. No torch here.
"""

from __future__ import annotations

import json
import math
from pathlib import Path

from qgen.core.errors import QgenInputError


def check_safetensors(path) -> None:
    """A safetensors file is whole: its header parses and the file is exactly as long as the header says."""
    path = Path(path)
    size = path.stat().st_size
    with open(path, "rb") as f:
        head = f.read(8)
        n = int.from_bytes(head, "little") if len(head) == 8 else -1
        if n < 0 or n > size - 8:
            raise QgenInputError(f"truncated ({size} bytes, shorter than its header)", path=path)
        try:
            header = json.loads(f.read(n))
            end = max((int(v["data_offsets"][1]) for k, v in header.items() if k != "__metadata__"), default=0)
        except (UnicodeDecodeError, json.JSONDecodeError, AttributeError, KeyError, TypeError, IndexError, ValueError):
            raise QgenInputError("corrupt safetensors header", path=path) from None
    if size != 8 + n + end:
        raise QgenInputError(f"{'truncated' if size < 8 + n + end else 'corrupt'} ({size} bytes, its header "
                             f"describes {8 + n + end})", path=path)


def check_weights(directory) -> None:
    """Every `*.safetensors` file of a checkpoint directory is whole (QgenInputError names the first that is not)."""
    for weights in sorted(Path(directory).glob("*.safetensors")):
        check_safetensors(weights)


def stored_values(directory) -> int | None:
    """How many values the full-model weights files of `directory` hold (from their headers: nothing is read beyond
    them), or None when it has none (a hub name, a LoRA adapter) or one is unreadable (the loader names it)."""
    files = sorted(Path(directory).glob("model*.safetensors")) if Path(directory).is_dir() else []
    total = 0
    try:
        for path in files:
            with open(path, "rb") as f:
                header = json.loads(f.read(int.from_bytes(f.read(8), "little")))
            for key, entry in header.items():
                if key != "__metadata__":
                    total += math.prod(int(n) for n in entry["shape"])
    except (OSError, ValueError, KeyError, TypeError, AttributeError):
        return None
    return total if files else None
