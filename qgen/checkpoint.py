"""Atomic `best/` and `last/` checkpoints: plain Hugging Face directories, plus full training state in `last/`.

Both load with `AutoModel*.from_pretrained` and a transformers `pipeline` without qgen. `last/` adds
`trainer_state.pt` (optimiser, scheduler, scaler, RNG states; loaded with weights_only=True) and `trainer_state.json`
(step, data position, best metric — readable by people). Non-finite weights are never written.
"""

from __future__ import annotations

import json
import random
from pathlib import Path

import numpy as np
import torch

from qgen.io import atomic_dir

STATE_PT = "trainer_state.pt"
STATE_JSON = "trainer_state.json"


class NonFiniteWeightsError(RuntimeError):
    pass


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


def save(directory, model, tokenizer, cfg, info: dict, state: dict | None = None, weights: dict | None = None) -> Path:
    """Write a checkpoint directory atomically; `state` (optimiser etc.) only for `last/`; `weights`: a full state
    dict gathered beforehand (FSDP), else save_pretrained reads the model."""
    from qgen.precision import weights_finite

    finite = all(bool(torch.isfinite(t).all()) for t in weights.values() if t.is_floating_point()) if weights is not None \
        else weights_finite(model)
    if not finite:
        raise NonFiniteWeightsError(f"refusing to save non-finite weights to {directory}")
    from transformers.utils import logging as hf_logging

    hf_logging.disable_progress_bar()  # "Writing model shards" bars would interleave with the training bar
    directory = Path(directory)
    with atomic_dir(directory) as tmp:
        model.save_pretrained(tmp, safe_serialization=True, **({"state_dict": weights} if weights is not None else {}))
        tokenizer.save_pretrained(tmp)
        cfg.save(tmp)
        if state is not None:
            torch.save(state, tmp / STATE_PT)
        (tmp / STATE_JSON).write_text(json.dumps(info, ensure_ascii=False, indent=2) + "\n", encoding="utf-8")
    return directory


def load_state(directory) -> tuple[dict, dict]:
    """(training state tensors, info) from a `last/` directory."""
    directory = Path(directory)
    state = torch.load(directory / STATE_PT, map_location="cpu", weights_only=True)
    info = json.loads((directory / STATE_JSON).read_text(encoding="utf-8"))
    return state, info


def recover(directory) -> None:
    """A crash between atomic_dir's two renames leaves only `.NAME.old`: put it back."""
    directory = Path(directory)
    old = directory.with_name(f".{directory.name}.old")
    if not directory.exists() and old.is_dir():
        old.rename(directory)


def has_state(directory) -> bool:
    recover(directory)
    return (Path(directory) / STATE_PT).is_file() and (Path(directory) / STATE_JSON).is_file()
