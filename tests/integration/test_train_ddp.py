"""torchrun with 2 CPU processes (gloo) gives the same losses and weights as one process with the same global batch."""

import os
import subprocess
import sys
from pathlib import Path

import pytest
import torch
from helpers.train_helpers import (
    build_tiny_for,
    cli_flags,
    one_thread,  # noqa: F401  (a fixture, used by pytestmark)
    prepare_run,
    records,
    settings,
    write_jsquad,
)
from safetensors.torch import load_file

from qgen.training.loop import train

REPO = Path(__file__).resolve().parents[2]

pytestmark = pytest.mark.usefixtures("one_thread")


@pytest.fixture(scope="module")
def files(jsquad_valid, tmp_path_factory):
    # 30 examples: with 4 per global micro-batch the last batch of an epoch has 2 (one per rank)
    return write_jsquad(jsquad_valid, tmp_path_factory.mktemp("data"), n_train=30, n_dev=9)


@pytest.fixture(scope="module")
def tiny(files, tmp_path_factory):
    return build_tiny_for(tmp_path_factory.mktemp("tiny"), ["tiny-t5"], files[0])




def _torchrun(conf: dict) -> subprocess.CompletedProcess:
    flags = cli_flags(conf)
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "TOKENIZERS_PARALLELISM": "false", "OMP_NUM_THREADS": "1"}
    cmd = [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node", "2",
           str(REPO / "train.py"), *flags]
    proc = subprocess.run(cmd, cwd=REPO, env=env, capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr[-3000:]
    return proc


@pytest.mark.slow
def test_two_process_gloo_ddp_equals_single_process(tmp_path, files, tiny):
    # 30 examples / 4 per global micro-batch = 8 micro-batches, grad_accum 3 → steps of 3, 3, 2 micro-batches;
    # the validation set (9) leaves rank 1 one example short in its last batch
    # SGD: two ranks sum gradients in another order than one process, and AdamW would turn that rounding into
    # O(lr) weight differences where a gradient is ~0 (machine-dependent); SGD keeps them at rounding size
    common = {"max_steps": 4, "grad_accum": 3, "eval_steps": 2, "valid_batch_size": 3, "scheduler": "constant",
              "optimizer": "sgd", "lr": 0.5}
    single = prepare_run(tmp_path / "single", tiny, dropout=0.0)
    train(settings(single, *files, batch_size=4, **common))

    ddp = prepare_run(tmp_path / "ddp", tiny, dropout=0.0)
    proc = _torchrun(settings(ddp, *files, batch_size=2, **common))
    assert "world 2" in proc.stdout + proc.stderr

    ls, ld = records(single, "train"), records(ddp, "train")
    assert len(ls) == 4 and [r["loss"] for r in ld] == pytest.approx([r["loss"] for r in ls], rel=1e-5)
    vs, vd = records(single, "valid"), records(ddp, "valid")
    assert [r["valid_loss"] for r in vd] == pytest.approx([r["valid_loss"] for r in vs], rel=1e-5)
    ws, wd = load_file(single / "last" / "model.safetensors"), load_file(ddp / "last" / "model.safetensors")
    for k in ws:
        torch.testing.assert_close(wd[k], ws[k], atol=1e-6, rtol=1e-5)


@pytest.mark.slow
def test_ddp_resume_is_bit_identical(tmp_path, files, tiny):
    # constant LR, so stopping at step 3 and resuming to 6 is the same run as going to 6 at once;
    # dropout on (0.1): each rank's dropout seed must come back too. Step 3 ends mid-epoch (8 micro-batches/epoch).
    common = {"grad_accum": 2, "scheduler": "constant", "batch_size": 2, "valid_file": ""}
    ref = prepare_run(tmp_path / "ref", tiny)
    _torchrun(settings(ref, *files, max_steps=6, **common))
    split = prepare_run(tmp_path / "split", tiny)
    _torchrun(settings(split, *files, max_steps=3, **common))
    _torchrun(settings(split, *files, max_steps=6, resume=True, **common))
    assert (split / "last" / "model.safetensors").read_bytes() == (ref / "last" / "model.safetensors").read_bytes()
    assert [r["loss"] for r in records(split, "train")] == [r["loss"] for r in records(ref, "train")]
