"""A full disk while a checkpoint is written is said as such: torch.save reports it as `unexpected pos N vs M` and
safetensors as an I/O error text; both become `no space left on device writing PATH` (issue 29)."""

import shutil
from collections import namedtuple

import pytest
import torch
from helpers.disks import small_tmpfs
from transformers import GPT2Config, GPT2LMHeadModel

from qgen.training import checkpoint
from qgen.training.checkpoint import STATE_PT, CheckpointWriteError
from qgen.training.config import TrainConfig

from .test_checkpoint import INFO, _state, _Tokenizer


@pytest.fixture()
def model():
    torch.manual_seed(0)
    return GPT2LMHeadModel(GPT2Config(n_layer=1, n_embd=8, n_head=2, n_positions=8, vocab_size=16))


@pytest.fixture()
def small_disk(tmp_path):
    with small_tmpfs(tmp_path) as mnt:
        yield mnt


def test_real_disk_full_in_torch_save_is_named(small_disk, model):
    state = {**_state(model), "pad": torch.zeros(256 * 1024)}  # 1 MiB of optimiser state: more than the disk holds
    with pytest.raises(CheckpointWriteError) as e:
        checkpoint.save(small_disk / "last", model, _Tokenizer(), TrainConfig(), INFO, state=state)
    assert f"no space left on device writing {small_disk / 'last' / STATE_PT}" in str(e.value)
    assert "unexpected pos" not in str(e.value)
    assert list(small_disk.iterdir()) == []  # the half-written temp directory went


def test_torch_save_position_error_on_a_full_disk_is_named(tmp_path, model, monkeypatch):
    """The same without a mount: torch.save's own message, and a file system with no space left."""
    def full(*a, **k):
        raise RuntimeError("[enforce fail at inline_container.cc:672] . unexpected pos 576 vs 534")

    monkeypatch.setattr(checkpoint.torch, "save", full)
    monkeypatch.setattr(shutil, "disk_usage", lambda p: namedtuple("usage", "total used free")(10, 10, 0))
    with pytest.raises(CheckpointWriteError, match=f"no space left on device writing {tmp_path / 'last' / STATE_PT}"):
        checkpoint.save(tmp_path / "last", model, _Tokenizer(), TrainConfig(), INFO, state=_state(model))
