"""Atomic `best/` and `last/` checkpoints: plain Hugging Face directories, plus full training state in `last/`.

Both load with `AutoModel*.from_pretrained` and a transformers `pipeline` without qgen. `last/` adds
`trainer_state.pt` (optimiser, scheduler, scaler, RNG states; loaded with weights_only=True) and `trainer_state.json`
(step, data position, best metric — readable by people). Non-finite weights are never written.

A damaged checkpoint (truncated weights, a missing or unreadable state file, a bad `qgen_config.yaml` or
`input_spec.json`) is a QgenInputError naming the file: `--resume` refuses it rather than silently starting over.
"""

from __future__ import annotations

import json
import pickle
import random
import shutil
from pathlib import Path

import numpy as np
import torch

from qgen.core.errors import QgenInputError, os_error_message
from qgen.core.files import atomic_dir, pause_point, recover_dir, remove_leftovers
from qgen.models.input_spec import read_input_spec
from qgen.models.weights_file import check_weights
from qgen.training.config import SAVED_NAME, load_saved
from qgen.training.precision import weights_finite

STATE_PT = "trainer_state.pt"
STATE_JSON = "trainer_state.json"
STATE_KEYS = ("step", "epoch", "batch")


class NonFiniteWeightsError(RuntimeError):
    pass


class CheckpointWriteError(RuntimeError):
    """Writing a checkpoint failed (disk full, permissions, I/O error); the previous copy of it is untouched."""


def rng_state() -> dict:
    np_state = np.random.get_state()
    return {
        "python": random.getstate(),
        "numpy": {"key": torch.from_numpy(np_state[1].astype(np.int64)), "pos": int(np_state[2]),
                  "has_gauss": int(np_state[3]), "cached_gaussian": float(np_state[4])},
        "torch": torch.get_rng_state(),
        "cuda": torch.cuda.get_rng_state_all() if torch.cuda.is_available() else [],
    }


def set_rng_state(state: dict) -> None:
    py = state["python"]
    random.setstate((py[0], tuple(py[1]), py[2]))
    n = state["numpy"]
    np.random.set_state(("MT19937", n["key"].numpy().astype(np.uint32), n["pos"], n["has_gauss"], n["cached_gaussian"]))
    torch.set_rng_state(state["torch"])
    if state.get("cuda") and torch.cuda.is_available():
        torch.cuda.set_rng_state_all(state["cuda"])


def save(directory, model, tokenizer, cfg, info: dict, state: dict | None = None, weights: dict | None = None,
         point: str | None = None) -> Path:
    """Write a checkpoint directory atomically; `state` (optimiser etc.) only for `last/`; `weights`: a full state
    dict gathered beforehand (FSDP), else save_pretrained reads the model. A failed write (OSError) raises
    CheckpointWriteError and leaves the previous directory as it was. `point`: pause_point names (tests only)."""
    finite = all(bool(torch.isfinite(t).all()) for t in weights.values() if t.is_floating_point()) if weights is not None \
        else weights_finite(model)
    if not finite:
        raise NonFiniteWeightsError(f"refusing to save non-finite weights to {directory}")
    from transformers.utils import logging as hf_logging  # transformers (~0.7 s): only when a checkpoint is written

    hf_logging.disable_progress_bar()  # "Writing model shards" bars would interleave with the training bar
    directory = Path(directory)
    mark = (lambda stage: pause_point(f"{point}:{stage}")) if point else (lambda stage: None)
    writing = directory
    try:
        with atomic_dir(directory, point) as tmp:
            writing = directory / "model.safetensors"
            model.save_pretrained(tmp, safe_serialization=True, **({"state_dict": weights} if weights is not None else {}))
            mark("weights")
            writing = directory
            tokenizer.save_pretrained(tmp)
            cfg.save(tmp)
            if state is not None:
                writing = directory / STATE_PT
                torch.save(state, tmp / STATE_PT)
                mark("state")
            writing = directory / STATE_JSON
            (tmp / STATE_JSON).write_text(json.dumps(info, ensure_ascii=False, indent=2) + "\n", encoding="utf-8")
    except Exception as e:  # OSError from Python, RuntimeError from torch.save, SafetensorError: all mean "not written"
        raise CheckpointWriteError(f"cannot write {directory}: {_write_failure(e, writing)}; the previous "
                                   f"{directory.name}/ is unchanged") from e
    return directory


def _write_failure(e: Exception, writing: Path) -> str:
    """Why a write failed, in one line. torch.save reports a full disk as `unexpected pos N vs M` and safetensors
    as an IoError text: both are said as `no space left on device writing PATH` when the disk is full."""
    if isinstance(e, OSError) and e.strerror:
        return os_error_message(e, writing)
    text = (str(e).strip().splitlines() or [type(e).__name__])[0][:300]
    if "No space left" in text or "StorageFull" in text or ("unexpected pos" in text and _disk_full(writing)):
        return f"no space left on device writing {writing}"
    return text


def _disk_full(path: Path) -> bool:
    """The file system holding `path` has (almost) no free space left: under 1 MiB."""
    for folder in (path, *path.parents):
        if folder.exists():
            return shutil.disk_usage(folder).free < 2**20
    return False


def load_state(directory) -> tuple[dict, dict]:
    """(training state tensors, info) from a `last/` directory; a damaged file is a QgenInputError naming it."""
    directory = Path(directory)
    info = _read_info(directory / STATE_JSON)
    try:
        state = torch.load(directory / STATE_PT, map_location="cpu", weights_only=True)
    except FileNotFoundError:
        raise QgenInputError("missing (the checkpoint is incomplete)", path=directory / STATE_PT) from None
    except (OSError, RuntimeError, EOFError, pickle.UnpicklingError, ValueError) as e:
        raise QgenInputError(f"unreadable training state: {str(e).splitlines()[0][:200]}",
                             path=directory / STATE_PT) from None
    missing = [k for k in ("optimizer", "scheduler", "scaler", "rng") if k not in state]
    if missing:
        raise QgenInputError(f"training state lacks {', '.join(missing)}", path=directory / STATE_PT)
    return state, info


def _read_info(path: Path) -> dict:
    try:
        info = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise QgenInputError("missing (the checkpoint is incomplete)", path=path) from None
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as e:
        raise QgenInputError(f"unreadable: {e}", path=path) from None
    if not isinstance(info, dict):
        raise QgenInputError(f"expected a JSON object, got {type(info).__name__}", path=path)
    for key in STATE_KEYS:
        if not isinstance(info.get(key), int) or info[key] < 0:
            raise QgenInputError(f"expected a non-negative integer, got {info.get(key)!r}", path=path, field=key)
    return info


WEIGHT_FILES = ("model.safetensors", "adapter_model.safetensors", "model.safetensors.index.json")


def verify(directory, with_state: bool = False) -> None:
    """Check a checkpoint qgen wrote without loading the model: config, whole weights files, a loadable
    `qgen_config.yaml` (and `input_spec.json`, which checkpoints written before it lack) and (with_state) the
    training state files. QgenInputError names the first bad file."""
    directory = Path(directory)
    if not directory.is_dir():
        raise QgenInputError("not a directory", path=directory)
    config = next((directory / n for n in ("adapter_config.json", "config.json") if (directory / n).is_file()), None)
    if config is None:
        raise QgenInputError("missing (no config.json or adapter_config.json)", path=directory / "config.json")
    try:
        if not isinstance(json.loads(config.read_text(encoding="utf-8")), dict):
            raise ValueError("not a JSON object")
    except (OSError, UnicodeDecodeError, ValueError) as e:
        raise QgenInputError(f"unreadable: {e}", path=config) from None
    if not any((directory / n).is_file() for n in WEIGHT_FILES):
        raise QgenInputError("missing (no weights file)", path=directory / WEIGHT_FILES[0])
    check_weights(directory)
    if not (directory / SAVED_NAME).is_file():
        raise QgenInputError("missing (the checkpoint is incomplete)", path=directory / SAVED_NAME)
    load_saved(directory)  # an unknown key or a bad value names the file and the field
    read_input_spec(directory)  # the same for input_spec.json
    if with_state:
        _read_info(directory / STATE_JSON)
        if not (directory / STATE_PT).is_file():
            raise QgenInputError("missing (the checkpoint is incomplete)", path=directory / STATE_PT)


def recover(directory) -> None:
    """Clean up after a killed writer: put back `.NAME.old` (atomic_dir's fallback swap) and remove `.NAME.*.tmp`.
    Only while holding the output directory's lock."""
    recover_dir(directory)
    remove_leftovers(directory)


def resumable(directory) -> bool:
    """True when `directory` (`last/`) holds a complete state to resume from, False when there is none; a damaged
    one is a QgenInputError naming the file, so `--resume` never silently starts over."""
    recover(directory)
    if not Path(directory).exists():
        return False
    verify(directory, with_state=True)
    return True
