"""Atomic `best/` and `last/` checkpoints: plain Hugging Face directories, plus full training state in `last/`
(under `--fsdp`, `last/` holds the weights and optimiser state as DCP shards instead: distributed/sharded.py).

Both load with `AutoModel*.from_pretrained` and a transformers `pipeline` without qgen. `last/` adds
`trainer_state.pt` (optimiser, scheduler, scaler, RNG states; loaded with weights_only=True) and `trainer_state.json`
(step, data position, best metric — readable by people). Non-finite weights are never written.

A damaged checkpoint (truncated weights, a missing or unreadable state file, a bad `qgen_config.yaml` or
`input_spec.json`) is a QgenInputError naming the file: `--resume` refuses it rather than silently starting over.
"""

from __future__ import annotations

import contextlib
import json
import os
import pickle
import random
import shutil
from pathlib import Path
from typing import Any

import numpy as np
import torch

from qgen.core.constants import SAVED_NAME
from qgen.core.errors import QgenInputError, os_error_message
from qgen.core.files import atomic_dir, pause_point, recover_dir, remove_leftovers, write_text
from qgen.models.input_spec import read_input_spec
from qgen.models.loading import check_tokenizer_files
from qgen.models.unwrap import unwrap
from qgen.models.weights_file import check_weights
from qgen.training.config import TrainConfig, load_saved
from qgen.training.distributed.sharded import check_shards, is_sharded_dir
from qgen.training.precision import weights_finite

STATE_PT = "trainer_state.pt"
STATE_JSON = "trainer_state.json"
STATE_KEYS = ("step", "epoch", "batch")


class NonFiniteWeightsError(RuntimeError):
    """The weights hold NaN or inf: they are never written, so best/ and last/ stay loadable."""


class CheckpointWriteError(RuntimeError):
    """Writing a checkpoint failed (disk full, permissions, I/O error); the previous copy of it is untouched."""


def rng_state() -> dict:
    """Python's, NumPy's, torch's and CUDA's RNG states as tensors and plain values (weights_only-loadable)."""
    np_state = np.random.get_state()
    return {
        "python": random.getstate(),
        "numpy": {"key": torch.from_numpy(np_state[1].astype(np.int64)), "pos": int(np_state[2]),
                  "has_gauss": int(np_state[3]), "cached_gaussian": float(np_state[4])},
        "torch": torch.get_rng_state(),
        "cuda": torch.cuda.get_rng_state_all() if torch.cuda.is_available() else [],
    }


def set_rng_state(state: dict) -> None:
    """Restore what `rng_state` saved, so a resumed run draws the numbers the stopped one would have."""
    py = state["python"]
    random.setstate((py[0], tuple(py[1]), py[2]))
    n = state["numpy"]
    np.random.set_state(("MT19937", n["key"].numpy().astype(np.uint32), n["pos"], n["has_gauss"], n["cached_gaussian"]))
    torch.set_rng_state(state["torch"])
    if state.get("cuda") and torch.cuda.is_available():
        torch.cuda.set_rng_state_all(state["cuda"])


def save(directory: Path, model: torch.nn.Module, tokenizer: Any, cfg: TrainConfig, saved_json: dict,
         state: dict | None = None, weights: dict | None = None, point: str | None = None) -> Path:
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
            (tmp / STATE_JSON).write_text(json.dumps(saved_json, ensure_ascii=False, indent=2) + "\n", encoding="utf-8")
    except Exception as e:  # OSError from Python, RuntimeError from torch.save, SafetensorError: all mean "not written"
        raise write_error(directory, e, writing) from e
    return directory


def write_error(directory: Path, e: Exception, writing: Path | None = None) -> CheckpointWriteError:
    """What a failed checkpoint write says: the cause in one line (the file being written when known), and that the
    previous copy is untouched."""
    return CheckpointWriteError(f"cannot write {directory}: {_write_failure(e, writing or directory)}; the previous "
                                f"{directory.name}/ is unchanged")


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


def write_beside_shards(tmp: Path, model: torch.nn.Module, tokenizer: Any, cfg: TrainConfig, saved_json: dict,
                        state: dict, point: str | None = None) -> None:
    """Rank 0's part of a sharded `last/` (qgen.training.distributed.sharded): everything but the weights and the
    optimiser state, which the ranks wrote as DCP shards. `point`: pause_point names (tests only)."""
    from transformers.utils import logging as hf_logging  # transformers (~0.7 s): only when a checkpoint is written

    hf_logging.disable_progress_bar()
    base = unwrap(model, peft=True)
    base.config.save_pretrained(tmp)
    if getattr(base, "generation_config", None) is not None and base.can_generate():
        base.generation_config.save_pretrained(tmp)
    tokenizer.save_pretrained(tmp)
    cfg.save(tmp)
    torch.save(state, tmp / STATE_PT)
    if point:
        pause_point(f"{point}:state")
    (tmp / STATE_JSON).write_text(json.dumps(saved_json, ensure_ascii=False, indent=2) + "\n", encoding="utf-8")


def load_state(directory: str | Path) -> tuple[dict, dict]:
    """(trainer_state.pt's tensors, trainer_state.json's values) from a `last/` directory; a damaged file is a
    QgenInputError naming it."""
    directory = Path(directory)
    saved_json = _read_state_json(directory / STATE_JSON)
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
    return state, saved_json


def _read_state_json(path: Path) -> dict:
    try:
        saved_json = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise QgenInputError("missing (the checkpoint is incomplete)", path=path) from None
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as e:
        raise QgenInputError(f"unreadable: {e}", path=path) from None
    if not isinstance(saved_json, dict):
        raise QgenInputError(f"expected a JSON object, got {type(saved_json).__name__}", path=path)
    for key in STATE_KEYS:
        if not isinstance(saved_json.get(key), int) or saved_json[key] < 0:
            raise QgenInputError(f"expected a non-negative integer, got {saved_json.get(key)!r}", path=path, field=key)
    return saved_json


WEIGHT_FILES = ("model.safetensors", "adapter_model.safetensors", "model.safetensors.index.json")


def verify(directory: str | Path, with_state: bool = False) -> None:
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
    check_tokenizer_files(directory)
    if not (directory / SAVED_NAME).is_file():
        raise QgenInputError("missing (the checkpoint is incomplete)", path=directory / SAVED_NAME)
    load_saved(directory)  # an unknown key or a bad value names the file and the field
    read_input_spec(directory)  # the same for input_spec.json
    if with_state:
        _read_state_json(directory / STATE_JSON)
        if not (directory / STATE_PT).is_file():
            raise QgenInputError("missing (the checkpoint is incomplete)", path=directory / STATE_PT)


DATA_KEY = "train_file_sha256"  # trainer_state.json: the training file the saved data position counts in


def _same_setting(given: str, saved: str) -> bool:
    """The same string, or two spellings of one existing path (relative / absolute, through a symlink)."""
    if given == saved:
        return True
    try:
        return Path(given).exists() and Path(given).resolve() == Path(saved).resolve()
    except OSError:
        return False


def check_resume(directory: str | Path, cfg: TrainConfig, data_sha256: str) -> None:
    """`--resume` continues the run saved in `directory` (`last/`) only with its model and training data: another
    --model or --train-file (or the same file with other contents) would apply the saved weights, optimiser state
    and data position to something else. QgenInputError naming the setting, the saved and the given value.
    Checkpoints written before the data's fingerprint was saved are checked by path only."""
    saved = load_saved(directory)
    for name, given, was in (("model", cfg.model.model, saved.model.model),
                             ("train_file", cfg.data.train_file, saved.data.train_file)):
        if not _same_setting(str(given), str(was)):
            raise QgenInputError(f"--resume continues {directory} saved with {name} {was!r}, but {given!r} was given "
                                 "(give the saved value, or train into a new --output-dir)", field=name)
    saved_json = _read_state_json(Path(directory) / STATE_JSON)
    if 0 < cfg.optim.max_steps < saved_json["step"]:
        raise QgenInputError(f"--resume continues {directory} saved at step {saved_json['step']}, but max_steps "
                             f"{cfg.optim.max_steps} was given: give at least {saved_json['step']}", field="max_steps")
    recorded = saved_json.get(DATA_KEY)
    if recorded is not None and recorded != data_sha256:
        raise QgenInputError(f"--resume continues {directory}, but the training file's contents changed since it was "
                             f"saved (sha256 {recorded[:12]}…, now {data_sha256[:12]}…): the saved data position "
                             "would count in other data (restore the file, or train into a new --output-dir)",
                             path=cfg.data.train_file, field="train_file")


def recover(directory: str | Path) -> None:
    """Clean up after a killed writer: put back `.NAME.old` (atomic_dir's fallback swap) and remove `.NAME.*.tmp`.
    Only while holding the output directory's lock."""
    recover_dir(directory)
    remove_leftovers(directory)


# In an output directory while a fresh run has not yet written its first last/: a best/ beside it is that run's own,
# unfinished (killed between its first best/ and last/), so `--resume` may start over; without it best/ is a
# finished run's and is never replaced silently.
NO_LAST_YET = ".qgen-no-last-yet"


def check_output_dir(out: str | Path, resume: bool, overwrite: bool) -> None:
    """Refuse, before any work, a run that would silently replace another run's best/ or last/ (QgenInputError)."""
    out = Path(out)
    best, last = out / "best", out / "last"
    finished = last.exists() or (best.exists() and not (out / NO_LAST_YET).exists())  # the mark excuses best/ only
    if resume and overwrite:
        raise QgenInputError("--resume continues the run in it, --overwrite starts over: give one", path=out,
                             field="overwrite")
    if overwrite or not finished:
        return
    if not resume:
        raise QgenInputError("holds a finished run (best/, last/): continue it with --resume, write to another "
                             "--output-dir, or pass --overwrite to replace it", path=out, field="output_dir")
    if not last.exists():
        raise QgenInputError("missing, so --resume would start over and replace best/ beside it: put last/ back, "
                             "write to another --output-dir, or pass --overwrite (without --resume) to start over",
                             path=last, field="resume")


def remove_run(out: str | Path) -> None:
    """--overwrite: take the old best/ and last/ away before a fresh run writes — each renamed to a temp name in one
    step (recover() removes what a kill leaves), then deleted — so the directory never mixes two runs."""
    for directory in (Path(out) / "last", Path(out) / "best"):
        if directory.exists():
            gone = directory.with_name(f".{directory.name}.overwritten.tmp")
            os.replace(directory, gone)
            shutil.rmtree(gone, ignore_errors=True)


def mark_no_last_yet(out: str | Path) -> None:
    """Before a fresh run's first best/ (written ahead of its first last/): best/ alone is then this unfinished run's."""
    try:
        write_text(Path(out) / NO_LAST_YET, "a fresh run wrote best/ and has not written last/ yet\n")
    except OSError as e:  # as a failed checkpoint write: every rank stops, best/ is untouched
        raise CheckpointWriteError(f"cannot write {Path(out) / NO_LAST_YET}: {e.strerror or e}") from e


def saved_last(out: str | Path) -> None:
    """last/ is written: the output directory now holds a run that `--resume` continues."""
    with contextlib.suppress(OSError):  # a mark left behind only excuses best/, never last/ (check_output_dir)
        (Path(out) / NO_LAST_YET).unlink(missing_ok=True)


def resumable(directory: str | Path) -> bool:
    """True when `directory` (`last/`) holds a complete state to resume from, False when there is none; a damaged
    one is a QgenInputError naming the file, so `--resume` never silently starts over."""
    recover(directory)
    if not Path(directory).exists():
        return False
    verify(directory, with_state=True)
    return True
