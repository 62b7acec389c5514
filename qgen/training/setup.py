"""What the loop needs before its first step: the config (from any form), checked; the examples; the task.

Every check here raises QgenInputError (one-line message, exit 2 from train.py) before any model is loaded.
"""

from __future__ import annotations

import random
from pathlib import Path

import numpy as np
import torch

from qgen.core.errors import QgenInputError
from qgen.data.examples import Example, read_examples
from qgen.data.jsonfile import require_file
from qgen.models.location import check_model_location
from qgen.models.lora import check as check_peft
from qgen.training import config as C
from qgen.training import losses, precision, schedule

TASKS = ("auto", "aqg", "aqg_hl", "qa", "quiz", "lm")
METRICS = {"valid_loss": "min", "valid_ppl": "min", "valid_accuracy": "max"}


def as_config(config) -> C.TrainConfig:
    """A TrainConfig from a TrainConfig, a dict of settings (flat or grouped) or a YAML path."""
    if isinstance(config, C.TrainConfig):
        return config
    if isinstance(config, dict):
        return C.from_dict(config, "config dict")
    if isinstance(config, (str, Path)):
        return C.load_yaml(config)
    raise TypeError(f"expected TrainConfig, dict or YAML path, got {type(config).__name__}")


def _choice(value, allowed, field_):
    if value not in allowed:
        raise QgenInputError(f"expected one of {', '.join(map(str, allowed))}, got {value!r}", field=field_)


def validate(cfg: C.TrainConfig) -> None:
    d, o, r, m = cfg.data, cfg.optim, cfg.run, cfg.model
    if not d.train_file:
        raise QgenInputError("no training file given (--train-file)", field="train_file")
    for name in ("train_file", "valid_file"):
        if getattr(d, name):
            require_file(getattr(d, name), field=name)  # missing, or a directory: said which
    check_model_location(m.model)  # a mistyped local path is "not found", not a hub error
    _choice(m.task, TASKS, "task")
    _choice(m.precision, precision.PRECISIONS, "precision")
    _choice(o.scheduler, schedule.SCHEDULERS, "scheduler")
    _choice(o.optimizer, schedule.OPTIMIZERS, "optimizer")
    if o.optimizer in schedule.EIGHT_BIT:
        try:
            import bitsandbytes  # noqa: F401 — checked here so a missing package is one line, not a traceback
        except ImportError:
            raise QgenInputError(f"{o.optimizer} needs bitsandbytes (pip install bitsandbytes)",
                                 field="optimizer") from None
        if o.optimizer.startswith("paged") and not torch.cuda.is_available():
            raise QgenInputError("paged_adamw8bit pages GPU memory: it needs CUDA (use adamw8bit on the CPU)",
                                 field="optimizer")
    _choice(r.loss, losses.names(), "loss")
    _choice(r.metric, list(METRICS), "metric")
    for group, name, low in ((d, "batch_size", 1), (d, "valid_batch_size", 1), (o, "grad_accum", 1),
                             (d, "max_tokens", 0), (o, "max_steps", 0), (o, "warmup_steps", 0), (r, "eval_steps", 0),
                             (r, "save_steps", 0), (r, "log_steps", 1), (r, "max_nonfinite_steps", 1),
                             (r, "early_stopping_patience", 0), (r, "max_minutes", 0), (r, "threads", 0), (m, "max_source_len", 1), (m, "max_target_len", 1),
                             (m, "max_len", 2)):
        if getattr(group, name) < low:
            raise QgenInputError(f"must be at least {low}, got {getattr(group, name)}", field=name)
    if o.lr <= 0:
        raise QgenInputError(f"must be positive, got {o.lr}", field="lr")
    if o.epochs <= 0 and o.max_steps == 0:
        raise QgenInputError("epochs must be positive when max_steps is 0", field="epochs")
    if not 0 <= o.warmup_ratio < 1:
        raise QgenInputError(f"must be in [0, 1), got {o.warmup_ratio}", field="warmup_ratio")
    if not 0 <= r.label_smoothing < 1:
        raise QgenInputError(f"must be in [0, 1), got {r.label_smoothing}", field="label_smoothing")
    check_peft(cfg)  # LoRA / quantisation mistakes surface before any model is built


def read_data(cfg: C.TrainConfig) -> tuple[list[Example], list[Example]]:
    train = read_examples(cfg.data.train_file)
    if not train:
        raise QgenInputError("no training examples", path=cfg.data.train_file)
    valid = read_examples(cfg.data.valid_file) if cfg.data.valid_file else []
    return train, valid


def guess_task(examples: list[Example], path) -> str:
    """aqg / aqg_hl / qa from the TSV sources data_prep writes; quiz for instruction data; lm for plain text."""
    if all(not ex.source for ex in examples):
        return "lm"
    if Path(path).suffix.lower() not in (".tsv", ".txt"):
        return "quiz"
    votes = {"aqg": 0, "qa": 0, "aqg_hl": 0}
    for ex in examples[:1000]:
        if ex.source.startswith("answer:"):
            votes["aqg"] += 1
        elif ex.source.startswith("question:"):
            votes["qa"] += 1
        elif "<hl>" in ex.source:
            votes["aqg_hl"] += 1
    task, n = max(votes.items(), key=lambda kv: kv[1])
    if n == 0:
        raise QgenInputError("cannot guess the task (sources start with neither 'answer:' nor 'question:' and have no "
                             "<hl>); pass --task", path=path, field="task")
    return task


def seed_everything(seed: int) -> None:
    random.seed(seed)
    np.random.seed(seed % 2**32)
    torch.manual_seed(seed)


def step_seed(seed: int, step: int, rank: int) -> int:
    """Dropout's seed for one optimiser step on one rank: a resumed run draws exactly the masks it would have."""
    return (seed * 1_000_003 + step * 4099 + rank) % 2**63
