"""Is a safetensors weights file whole? Checked from its header alone, before any loader reads it.

Training checks its checkpoints with it before `--resume`, inference before loading, so a truncated file is one
error naming it rather than a loader traceback. No torch here.
"""

from __future__ import annotations

import json
import math
from pathlib import Path

from qgen.core.errors import PathArg, QgenInputError

# bytes per element of each safetensors dtype (the format's list)
DTYPE_BYTES = {"BOOL": 1, "U8": 1, "I8": 1, "F8_E5M2": 1, "F8_E4M3": 1, "I16": 2, "U16": 2, "F16": 2, "BF16": 2,
               "I32": 4, "U32": 4, "F32": 4, "I64": 8, "U64": 8, "F64": 8}


def check_safetensors(path: PathArg) -> None:
    """A safetensors file is whole: its header parses, each tensor's dtype and shape fill exactly its byte range,
    and the file is exactly as long as the header says."""
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
        except RecursionError:
            raise QgenInputError("corrupt safetensors header (nested too deeply)", path=path) from None
    for name, entry in header.items():
        if name != "__metadata__":
            _check_entry(path, name, entry)
    if size != 8 + n + end:
        raise QgenInputError(f"{'truncated' if size < 8 + n + end else 'corrupt'} ({size} bytes, its header "
                             f"describes {8 + n + end})", path=path)


def _check_entry(path: Path, name: str, entry: dict) -> None:
    """One tensor of the header: a known dtype, a shape of non-negative ints, as many bytes as they make."""
    dtype, shape, offsets = entry.get("dtype"), entry.get("shape"), entry["data_offsets"]
    if not (isinstance(offsets, list) and len(offsets) == 2 and all(isinstance(n, int) for n in offsets)):
        raise QgenInputError(f"corrupt safetensors header: tensor {name!r} has data_offsets {offsets!r}", path=path)
    begin, end = offsets
    if dtype not in DTYPE_BYTES:
        raise QgenInputError(f"corrupt safetensors header: tensor {name!r} has unknown dtype {dtype!r}", path=path)
    if not isinstance(shape, list) or not all(isinstance(n, int) and n >= 0 for n in shape):
        raise QgenInputError(f"corrupt safetensors header: tensor {name!r} has shape {shape!r}", path=path)
    size = DTYPE_BYTES[dtype]
    for n in shape:
        size *= n
    if not 0 <= begin <= end or end - begin != size:
        raise QgenInputError(f"corrupt safetensors header: tensor {name!r} ({dtype}, shape {shape}) needs {size} "
                             f"bytes, its data_offsets {offsets} give {end - begin}", path=path)


def check_weights(directory: PathArg) -> None:
    """Every `*.safetensors` file of a checkpoint directory is whole (QgenInputError names the first that is not)."""
    for weights in sorted(Path(directory).glob("*.safetensors")):
        check_safetensors(weights)


def stored_values(directory: PathArg) -> int | None:
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
