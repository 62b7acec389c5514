"""Atomic `best/` and `last/` checkpoints: plain Hugging Face directories, plus full training state in `last/`
(under `--fsdp`, `last/` holds the weights and optimiser state as DCP shards instead: distributed/sharded.py).

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
from pathlib import Path

import numpy as np
import torch

from qgen.core.errors import QgenInputError
from qgen.core.files import atomic_dir, pause_point, recover_dir, remove_leftovers
from qgen.models.input_spec import read_input_spec
from qgen.models.weights_file import check_weights
from qgen.training.config import SAVED_NAME, load_saved
from qgen.training.distributed.sharded import check_shards, is_sharded_dir
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
    try:
        with atomic_dir(directory, point) as tmp:
            model.save_pretrained(tmp, safe_serialization=True, **({"state_dict": weights} if weights is not None else {}))
            mark("weights")
            tokenizer.save_pretrained(tmp)
            cfg.save(tmp)
            if state is not None:
                torch.save(state, tmp / STATE_PT)
                mark("state")
            (tmp / STATE_JSON).write_text(json.dumps(info, ensure_ascii=False, indent=2) + "\n", encoding="utf-8")
    except Exception as e:  # OSError from Python, RuntimeError from torch.save, SafetensorError: all mean "not written"
        raise write_error(directory, e) from e
    return directory


def write_error(directory: Path, e: Exception) -> CheckpointWriteError:
    """What a failed checkpoint write says: the cause in one line, and that the previous copy is untouched."""
    what = (f"{e.strerror} ({e.filename})" if isinstance(e, OSError) and e.strerror and e.filename
            else (str(e).strip().splitlines() or [type(e).__name__])[0][:300])
    return CheckpointWriteError(f"cannot write {directory}: {what}; the previous {directory.name}/ is unchanged")


def write_beside_shards(tmp: Path, model, tokenizer, cfg, info: dict, state: dict, point: str | None = None) -> None:
    """Rank 0's part of a sharded `last/` (qgen.training.distributed.sharded): everything but the weights and the
    optimiser state, which the ranks wrote as DCP shards. `point`: pause_point names (tests only)."""
    from transformers.utils import logging as hf_logging  # transformers (~0.7 s): only when a checkpoint is written

    hf_logging.disable_progress_bar()
    base = model.get_base_model() if hasattr(model, "get_base_model") else model
    base.config.save_pretrained(tmp)
    if getattr(base, "generation_config", None) is not None and base.can_generate():
        base.generation_config.save_pretrained(tmp)
    tokenizer.save_pretrained(tmp)
    cfg.save(tmp)
    torch.save(state, tmp / STATE_PT)
    if point:
        pause_point(f"{point}:state")
    (tmp / STATE_JSON).write_text(json.dumps(info, ensure_ascii=False, indent=2) + "\n", encoding="utf-8")


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
    needed = ("scheduler", "scaler", "rng") if is_sharded_dir(directory) else ("optimizer", "scheduler", "scaler", "rng")
    missing = [k for k in needed if k not in state]
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
    if is_sharded_dir(directory):  # --fsdp's last/: the weights are DCP shards
        check_shards(directory)
    else:
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
