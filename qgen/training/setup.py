"""What the loop needs before its first step: the config (from any form), checked; the examples; the task.

Every check here raises QgenInputError (one-line message, exit 2 from train.py) before any model is loaded.
"""

from __future__ import annotations

import math
import os
import random
from pathlib import Path

import numpy as np
import torch

from qgen.core.errors import QgenInputError
from qgen.core.outputs import check_outputs
from qgen.core.text import LANGS
from qgen.core.values import MAX_TOKENS, SEED_MAX, check_finite, check_range
from qgen.data.examples import Example, read_examples
from qgen.data.jsonfile import require_file
from qgen.models.input_spec import CONTEXT_WINDOWS
from qgen.models.location import check_model_location
from qgen.models.lora import check as check_peft
from qgen.training import axolotl, losses, precision, schedule
from qgen.training import config as C

TASKS = ("auto", "aqg", "aqg_hl", "qa", "quiz", "lm")
METRICS = {"valid_loss": "min", "valid_ppl": "min", "valid_accuracy": "max"}


def as_config(config) -> C.TrainConfig:
    """A TrainConfig from a TrainConfig, a dict of settings (flat or grouped) or a YAML path."""
    if isinstance(config, C.TrainConfig):
        return config
    if isinstance(config, dict):
        if axolotl.is_axolotl(config):  # an Axolotl config as a dict, mapped as train.py --config maps its file
            config, _ = axolotl.convert(config, "config dict")
        return C.from_dict(config, "config dict")
    if isinstance(config, (str, Path)):
        return C.load_yaml(config)
    raise TypeError(f"expected TrainConfig, dict or YAML path, got {type(config).__name__}")


def _cpus() -> int:
    return len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count() or 1


def validate(cfg: C.TrainConfig) -> None:
    """Every setting in range (a bad one is named with the --config file it came from); the data files exist."""
    try:
        _check_ranges(cfg)
    except ValueError as e:
        name, _, reason = str(e).partition(": ")
        source = getattr(cfg, "sources", {}).get(name)
        raise QgenInputError(reason, path=source if source not in (None, "command line") else None,
                             field=name) from None
    d, m = cfg.data, cfg.model
    if not d.train_file:
        raise QgenInputError("no training file given (--train-file)", field="train_file")
    for name in ("train_file", "valid_file"):
        if getattr(d, name):
            require_file(getattr(d, name), field=name)  # missing, or a directory: said which
    check_model_location(m.model)  # a mistyped local path is "not found", not a hub error
    check_peft(cfg)  # LoRA / quantisation mistakes surface before any model is built


def _check_ranges(cfg: C.TrainConfig) -> None:
    """ValueError `field: reason` for the first setting out of its range (no float NaN or infinite: any check below
    would let NaN through, as every comparison with it is false)."""
    d, o, r, m, lo = cfg.data, cfg.optim, cfg.run, cfg.model, cfg.lora
    for group in (m, d, o, r, lo, cfg.dist):
        check_finite(group)
    for value, allowed, name in ((m.task, TASKS, "task"), (m.lang, LANGS, "lang"),
                                 (m.precision, precision.PRECISIONS, "precision"),
                                 (m.context_window, CONTEXT_WINDOWS, "context_window"),
                                 (o.scheduler, schedule.SCHEDULERS, "scheduler"),
                                 (o.optimizer, schedule.OPTIMIZERS, "optimizer"), (r.loss, losses.names(), "loss"),
                                 (r.metric, list(METRICS), "metric")):
        if value not in allowed:
            raise ValueError(f"{name}: expected one of {', '.join(map(str, allowed))}, got {value!r}")
    if o.optimizer in schedule.EIGHT_BIT:
        try:
            import bitsandbytes  # noqa: F401 — checked here so a missing package is one line, not a traceback
        except ImportError:
            raise ValueError(f"optimizer: {o.optimizer} needs bitsandbytes (pip install bitsandbytes)") from None
        if o.optimizer.startswith("paged") and not torch.cuda.is_available():
            raise ValueError("optimizer: paged_adamw8bit pages GPU memory: it needs CUDA (use adamw8bit on the CPU)")
    for group, name, low in ((d, "batch_size", 1), (d, "valid_batch_size", 1), (o, "grad_accum", 1),
                             (d, "max_tokens", 0), (o, "max_steps", 0), (o, "warmup_steps", 0), (r, "eval_steps", 0),
                             (r, "save_steps", 0), (r, "log_steps", 1), (r, "max_nonfinite_steps", 1),
                             (r, "early_stopping_patience", 0), (r, "max_minutes", 0), (o, "weight_decay", 0),
                             (o, "max_grad_norm", 0)):
        check_range(name, getattr(group, name), low)
    for name, low in (("max_source_len", 1), ("max_target_len", 1), ("max_len", 2)):
        check_range(name, getattr(m, name), low, MAX_TOKENS)
    check_range("threads", r.threads, 0, _cpus())  # more than the CPUs only slows down; far more crashes torch
    check_range("seed", r.seed, 0, SEED_MAX)
    check_range("lr", o.lr, above=0)
    check_range("adam_eps", o.adam_eps, above=0)
    for group, name in ((o, "adam_beta1"), (o, "adam_beta2"), (o, "warmup_ratio"), (r, "label_smoothing"),
                        (lo, "lora_dropout")):
        check_range(name, getattr(group, name), 0, below=1)
    if not cfg.dist.dist_timeout > 0:
        raise QgenInputError(f"must be positive (seconds), got {cfg.dist.dist_timeout}", field="dist_timeout")
    if o.epochs <= 0 and o.max_steps == 0:
        raise ValueError("epochs: must be positive when max_steps is 0")
    if not r.output_dir.strip():
        raise ValueError("output_dir: empty (give a directory; '.' for the current one)")
    if d.valid_size < 0 or (d.valid_size >= 1 and d.valid_size != int(d.valid_size)):
        raise QgenInputError(f"expected a fraction in [0, 1) or a whole count, got {d.valid_size}", field="valid_size")
    if d.valid_size and d.valid_file:
        raise QgenInputError("give valid_file or valid_size, not both", field="valid_size")


RUN_OUTPUTS = ("best", "last", "metrics.jsonl", "loss.png", "tensorboard", "cache", "tiny")  # what a run writes


def check_run_outputs(cfg: C.TrainConfig) -> None:
    """No training or validation file lies where the run writes (qgen.core.outputs): it would be replaced."""
    out = Path(cfg.run.output_dir)
    check_outputs([("--output-dir", out / name) for name in RUN_OUTPUTS],
                  [("--train-file", cfg.data.train_file or None), ("--valid-file", cfg.data.valid_file or None)],
                  directories=True)


def read_data(cfg: C.TrainConfig) -> tuple[list[Example], list[Example]]:
    train = read_examples(cfg.data.train_file)
    if not train:
        raise QgenInputError("no training examples", path=cfg.data.train_file)
    if cfg.data.valid_size:
        return hold_out(train, cfg.data.valid_size, cfg.run.seed, cfg.data.train_file)
    valid = read_examples(cfg.data.valid_file) if cfg.data.valid_file else []
    return train, valid


def hold_out(examples: list[Example], size: float, seed: int, path) -> tuple[list[Example], list[Example]]:
    """(train, valid): `size` examples (a fraction when < 1, rounded up; a count when >= 1) drawn with `seed` for
    validation, as Axolotl's `val_set_size` (its draw is not the same: the sizes are), the rest in file order."""
    n = math.ceil(size * len(examples)) if size < 1 else int(size)
    if not 0 < n < len(examples):
        raise QgenInputError(f"valid_size {size:g} leaves {len(examples) - n} of {len(examples)} examples to train on",
                             path=path, field="valid_size")
    chosen = set(random.Random(seed).sample(range(len(examples)), n))
    return ([ex for i, ex in enumerate(examples) if i not in chosen],
            [ex for i, ex in enumerate(examples) if i in chosen])


def split_keys(cfg: C.TrainConfig) -> tuple[dict, dict]:
    """Extra tokenisation-cache keys of the train and valid parts when both come from the training file."""
    if not cfg.data.valid_size:
        return {}, {}
    base = {"valid_size": cfg.data.valid_size, "seed": cfg.run.seed}
    return {**base, "part": "train"}, {**base, "part": "valid"}


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
