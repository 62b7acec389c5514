"""`torchrun --nproc_per_node 2 train.py --fsdp` on the CPU (gloo, FSDP2) equals one process with the same global batch."""

import os
import subprocess
import sys
from pathlib import Path

import pytest
import torch
from helpers.train_helpers import build_tiny_for, prepare_run, records, settings, write_jsquad
from safetensors.torch import load_file

from qgen.training.loop import train

REPO = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def files(jsquad_valid, tmp_path_factory):
    return write_jsquad(jsquad_valid, tmp_path_factory.mktemp("data"), n_train=24, n_dev=8)


@pytest.fixture(scope="module")
def tiny(files, tmp_path_factory):
    return build_tiny_for(tmp_path_factory.mktemp("tiny"), ["tiny-llama", "tiny-t5"], files[0])


def torchrun(conf: dict, extra=()):
    flags = [x for k, v in conf.items() for x in (f"--{k.replace('_', '-')}", str(v))]
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "TOKENIZERS_PARALLELISM": "false", "OMP_NUM_THREADS": "1"}
    cmd = [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node", "2",
           str(REPO / "train.py"), *flags, *extra]
    proc = subprocess.run(cmd, cwd=REPO, env=env, capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr[-3000:]
    return proc.stdout + proc.stderr


def weights(run: Path, name: str = "last") -> dict:
    d = run / name
    return load_file(d / ("adapter_model.safetensors" if (d / "adapter_config.json").is_file() else "model.safetensors"))


@pytest.mark.slow
@pytest.mark.parametrize("name,lora", [("tiny-llama", {"lora_r": 8, "lora_dropout": 0.0}), ("tiny-t5", {})])
def test_fsdp_two_processes_equal_single_process(tmp_path, files, tiny, name, lora):
    common = {"model": name, "max_steps": 3, "grad_accum": 2, "eval_steps": 3, "valid_batch_size": 4,
              "scheduler": "constant", "optimizer": "sgd", "lr": 0.5, "max_len": 96, **lora}  # SGD: see test_train_ddp
    single = prepare_run(tmp_path / "single", tiny, name, dropout=0.0)
    train(settings(single, *files, batch_size=4, **common))
    sharded = prepare_run(tmp_path / "fsdp", tiny, name, dropout=0.0)
    log = torchrun(settings(sharded, *files, batch_size=2, **common), ["--fsdp"])
    assert "world 2" in log and "FSDP" in log

    ls, lf = records(single, "train"), records(sharded, "train")
    assert len(ls) == 3 and [r["loss"] for r in lf] == pytest.approx([r["loss"] for r in ls], rel=1e-5)
    vs, vf = records(single, "valid"), records(sharded, "valid")
    assert [r["valid_loss"] for r in vf] == pytest.approx([r["valid_loss"] for r in vs], rel=1e-5)
    # best/ (the only validation, after the last step) is a plain HF directory: rank 0 wrote the gathered model
    ws, wf = weights(single), weights(sharded, "best")
    assert ws.keys() == wf.keys()
    for k in ws:
        torch.testing.assert_close(wf[k], ws[k], atol=1e-6, rtol=1e-5)
    # last/ is sharded (torch.distributed.checkpoint): one shard file per rank, no gathered weights or optimiser
    shards = sorted(p.name for p in (sharded / "last" / "dcp").glob("*.distcp"))
    assert shards == ["__0_0.distcp", "__1_0.distcp"]
    assert not (sharded / "last" / "model.safetensors").exists()
    assert "optimizer" not in torch.load(sharded / "last" / "trainer_state.pt", weights_only=True)
