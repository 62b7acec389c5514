"""Shared for the reliability tests: a few dozen real JSQuAD rows, a prebuilt tiny-t5, one uninterrupted reference run.

The run: 28 training rows in micro-batches of 4 with grad_accum 2 → 4 steps per epoch (the 4th has one micro-batch),
10 steps, validation (2 batches of 4) every 3 steps and at epoch ends, dropout on: every kind of state (optimiser,
scheduler, RNG, data position, best metric) must survive an interruption.
"""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
from helpers.train_helpers import build_tiny_for, write_jsquad

from .reliability_helpers import STEPS, ForkServer, run_train


@pytest.fixture(scope="session")
def rel_files(jsquad_valid, tmp_path_factory):
    return write_jsquad(jsquad_valid, tmp_path_factory.mktemp("rel-data"), n_train=28, n_dev=8)


@pytest.fixture(scope="session")
def rel_tiny(rel_files, tmp_path_factory):
    return build_tiny_for(tmp_path_factory.mktemp("rel-tiny"), ["tiny-t5"], rel_files[0])


@pytest.fixture(scope="session")
def make_conf(rel_files, rel_tiny):
    """make_conf(out) → train.py settings writing to `out`, with the prebuilt tiny model copied in."""

    def make(out: Path, **kw) -> dict:
        dst = Path(out) / "tiny" / "tiny-t5"
        if not dst.exists():
            shutil.copytree(rel_tiny / "tiny-t5", dst)
        train, dev = rel_files
        conf = {"model": "tiny-t5", "train_file": str(train), "valid_file": str(dev), "output_dir": str(out),
                "batch_size": 4, "valid_batch_size": 4, "grad_accum": 2, "max_steps": STEPS, "eval_steps": 3,
                "log_steps": 1, "lr": 2e-3, "max_source_len": 64, "max_target_len": 16, "seed": 0}
        return {**conf, **kw}

    return make


@pytest.fixture(scope="session")
def server():
    """train.py's code in forked children of one pre-imported process (forkserver.py): runs start in a fraction of
    the time. The reference and every run compared with it bit for bit go through it."""
    s = ForkServer()
    yield s
    s.close()


@pytest.fixture(scope="session")
def reference(make_conf, server, tmp_path_factory) -> Path:
    """The uninterrupted run every interrupted one must match bit for bit."""
    out = tmp_path_factory.mktemp("rel-ref") / "run"
    result = run_train(make_conf(out), server=server)
    assert result.returncode == 0, result.stderr[-3000:]
    return out
