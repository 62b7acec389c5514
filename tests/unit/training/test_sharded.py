"""Sharded checkpoints (qgen.training.distributed.sharded) in one process, no process group: a DCP directory is
recognised, checked shard by shard without reading tensors, and consolidated into a plain model; the restart and
timeout helpers of the launcher side (qgen.training.distributed.ddp)."""

from __future__ import annotations

import pytest
import torch
from torch.distributed.checkpoint import FileSystemWriter
from torch.distributed.checkpoint import save as dcp_save

from qgen.core.errors import QgenInputError
from qgen.training.distributed import ddp, sharded


def write_shards(directory, model) -> None:
    dcp_save({"model": model.state_dict()}, storage_writer=FileSystemWriter(directory / sharded.DCP_DIR), no_dist=True)


def small_model() -> torch.nn.Module:
    torch.manual_seed(0)
    return torch.nn.Sequential(torch.nn.Linear(8, 16), torch.nn.ReLU(), torch.nn.Linear(16, 4))


def test_shards_are_checked_without_loading(tmp_path):
    assert not sharded.is_sharded_dir(tmp_path)
    write_shards(tmp_path, small_model())
    assert sharded.is_sharded_dir(tmp_path)
    sharded.check_shards(tmp_path)  # whole: no error
    shard = next((tmp_path / sharded.DCP_DIR).glob("*.distcp"))
    shard.write_bytes(shard.read_bytes()[:-10])  # a writer killed mid-file
    with pytest.raises(QgenInputError, match="truncated shard") as e:
        sharded.check_shards(tmp_path)
    assert shard.name in str(e.value)
    shard.unlink()
    with pytest.raises(QgenInputError, match="missing shard"):
        sharded.check_shards(tmp_path)
    (tmp_path / sharded.DCP_DIR / ".metadata").write_bytes(b"not a pickle")
    with pytest.raises(QgenInputError, match="unreadable DCP metadata"):
        sharded.check_shards(tmp_path)


def test_consolidate_fills_a_fresh_model(tmp_path):
    trained = small_model()
    with torch.no_grad():
        for p in trained.parameters():
            p.add_(1.0)
    write_shards(tmp_path, trained)
    fresh = small_model()
    sharded.consolidate(tmp_path, fresh)
    for (name, want), got in zip(trained.state_dict().items(), fresh.state_dict().values()):
        assert torch.equal(got, want), name


def test_restart_count_and_timeout_errors(monkeypatch):
    monkeypatch.delenv("TORCHELASTIC_RESTART_COUNT", raising=False)
    assert ddp.restart_count() == 0
    monkeypatch.setenv("TORCHELASTIC_RESTART_COUNT", "3")
    assert ddp.restart_count() == 3
    gloo = RuntimeError("[../gloo/transport/tcp/unbound_buffer.cc:78] Timed out waiting 3000ms for recv operation")
    assert ddp.is_timeout(gloo)
    assert not ddp.is_timeout(RuntimeError("Connection closed by peer [127.0.0.1]:4242"))
    assert not ddp.is_timeout(ValueError("timed out"))


def test_a_torchrun_restart_is_a_resume(monkeypatch):
    from qgen.training.config import TrainConfig

    cfg = TrainConfig()
    monkeypatch.setenv("TORCHELASTIC_RESTART_COUNT", "0")  # the first attempt: what the command line says
    ddp.resume_on_restart(cfg.run)
    assert cfg.run.resume is False
    monkeypatch.setenv("TORCHELASTIC_RESTART_COUNT", "2")
    ddp.resume_on_restart(cfg.run)
    assert cfg.run.resume is True
