"""Shared pieces of the training tests: small real JSQuAD files and prebuilt tiny models copied into each run."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest
import torch

from qgen.data.examples import read_examples
from qgen.data.jsquad import convert, holdout_split
from qgen.data.squad import read_squad
from qgen.data.tsv import write_tsv
from qgen.models.loading import resolve
from qgen.training.distributed.ddp import DistInfo
from qgen.training.guards import StopOnSignal
from qgen.training.loop import TrainingRun
from qgen.training.run_inputs import as_config, guess_task, read_data

DROPOUT_KEYS = ("dropout_rate", "resid_pdrop", "embd_pdrop", "attn_pdrop", "hidden_dropout", "attention_dropout")


def write_jsquad(jsquad_valid, out: Path, n_train: int = 160, n_dev: int = 32, task: str = "aqg") -> tuple[Path, Path]:
    """A train/dev pair of real JSQuAD rows, split by context as data_prep does."""
    questions, _ = read_squad(jsquad_valid)
    train, dev = holdout_split(questions[:1200], 0.1, seed=0)
    out.mkdir(parents=True, exist_ok=True)
    tr, dv = out / f"train-{task}.tsv", out / f"dev-{task}.tsv"
    write_tsv(tr, convert(train, task)[:n_train])
    write_tsv(dv, convert(dev, task)[:n_dev])
    return tr, dv


def build_tiny(root: Path, names, texts) -> Path:
    for name in names:
        resolve(name, texts, root)
    return root


def build_tiny_for(root: Path, names, train_file: Path) -> Path:
    """Tiny models whose tokenizer is trained on a training file's texts, as train() would build them."""
    texts = [t for ex in read_examples(train_file) for t in (ex.source, ex.target)]
    return build_tiny(root, names, texts)


def cli_flags(conf: dict) -> list[str]:
    """train.py flags for a settings dict (booleans as --x / --no-x)."""
    flags = []
    for k, v in conf.items():
        name = k.replace("_", "-")
        flags += ([f"--{name}" if v else f"--no-{name}"] if isinstance(v, bool) else [f"--{name}", str(v)])
    return flags


def prepare_run(out: Path, tiny_root: Path, name: str = "tiny-t5", dropout: float | None = None) -> Path:
    """Put a prebuilt tiny model where train() looks for it (output_dir/tiny/NAME), optionally with dropout set."""
    dst = out / "tiny" / name
    if not dst.exists():
        shutil.copytree(tiny_root / name, dst)
    if dropout is not None:
        cfg = json.loads((dst / "config.json").read_text())
        for k in DROPOUT_KEYS:
            if k in cfg:
                cfg[k] = dropout
        (dst / "config.json").write_text(json.dumps(cfg))
    return out


def settings(out: Path, train: Path, valid: Path | None, **kw) -> dict:
    base = {"model": "tiny-t5", "train_file": str(train), "valid_file": str(valid or ""), "output_dir": str(out),
            "batch_size": 4, "valid_batch_size": 16, "max_steps": 6, "log_steps": 1, "lr": 1e-3,
            "max_source_len": 96, "max_target_len": 24, "max_len": 120, "seed": 0}
    base.update(kw)
    return base


def set_up_run(out: Path, train: Path, valid: Path | None, **kw) -> TrainingRun:
    """A run set up as `train()` sets it up (one process), to call its step or validation directly; close its
    `logger` at the end."""
    cfg = as_config(settings(out, train, valid, **kw))
    data = read_data(cfg)
    if cfg.model.task == "auto":
        cfg.model.task = guess_task(data[0], cfg.data.train_file)
    return TrainingRun(cfg, DistInfo(), data, StopOnSignal())


def records(out: Path, event: str) -> list[dict]:
    rows = [json.loads(line) for line in (Path(out) / "metrics.jsonl").read_text().splitlines() if line.strip()]
    return [r for r in rows if r.get("event") == event]


@pytest.fixture(scope="module", autouse=False)
def one_thread():
    """Tiny models' matmuls are too small for two threads: one is faster, and much faster on a busy machine."""
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)
