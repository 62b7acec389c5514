"""What the loop needs before its first step: the config (from any form); the examples; the task; the seeds.

Every check here raises QgenInputError (one-line message, exit 2 from train.py) before any model is loaded; the
settings' own checks are the config's (`TrainConfig.check`).
"""

from __future__ import annotations

import math
import random
from pathlib import Path

import numpy as np
import torch

from qgen.core.errors import QgenInputError
from qgen.core.outputs import check_outputs
from qgen.data.examples import Example, read_examples
from qgen.training import axolotl
from qgen.training import config as C


def as_config(config: C.TrainConfig | dict | str | Path) -> C.TrainConfig:
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


RUN_OUTPUTS = ("best", "last", "metrics.jsonl", "loss.png", "tensorboard", "cache", "tiny")  # what a run writes


def check_run_outputs(cfg: C.TrainConfig) -> None:
    """No training or validation file lies where the run writes (qgen.core.outputs): it would be replaced."""
    out = Path(cfg.run.output_dir)
    check_outputs([("--output-dir", out / name) for name in RUN_OUTPUTS],
                  [("--train-file", cfg.data.train_file or None), ("--valid-file", cfg.data.valid_file or None)],
                  directories=True)


def read_data(cfg: C.TrainConfig) -> tuple[list[Example], list[Example]]:
    """(train, valid) examples: the validation ones from valid_file, or held out of the training file (valid_size)."""
    train = read_examples(cfg.data.train_file)
    if not train:
        raise QgenInputError("no training examples", path=cfg.data.train_file)
    if cfg.data.valid_size:
        return hold_out(train, cfg.data.valid_size, cfg.run.seed, cfg.data.train_file)
    valid = read_examples(cfg.data.valid_file) if cfg.data.valid_file else []
    return train, valid


def hold_out(examples: list[Example], size: float, seed: int, path: str | Path) -> tuple[list[Example], list[Example]]:
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


def guess_task(examples: list[Example], path: str | Path) -> C.Task:
    """aqg / aqg_hl / qa from the TSV sources data_prep writes; quiz for instruction data; lm for plain text."""
    if all(not ex.source for ex in examples):
        return "lm"
    if Path(path).suffix.lower() not in (".tsv", ".txt"):
        return "quiz"
    votes: dict[C.Task, int] = {"aqg": 0, "qa": 0, "aqg_hl": 0}
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
    """Python's, numpy's and torch's generators seeded alike: weights init and shuffling repeat run to run."""
    random.seed(seed)
    np.random.seed(seed % 2**32)
    torch.manual_seed(seed)


def step_seed(seed: int, step: int, rank: int) -> int:
    """Dropout's seed for one optimiser step on one rank: a resumed run draws exactly the masks it would have."""
    return (seed * 1_000_003 + step * 4099 + rank) % 2**63
