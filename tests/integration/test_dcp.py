"""`--fsdp` writes last/ as a sharded torch.distributed.checkpoint (one shard per rank, nothing gathered); it resumes
exactly at the same world size and reshards to another one (2 → 1, 1 → 2, 2 → 4 processes); `qgen export` turns it into a
plain Hugging Face directory that from_pretrained and predict.py load.

The global batch stays 4 examples (2 per rank on 2 processes, 4 on 1), so every world size trains the same
examples in the same steps. Across world sizes the comparison is tolerant: two ranks sum their gradients in another
float order than one process, so weights differ at rounding size; SGD (linear in the gradients) keeps them there,
where AdamW's division by sqrt(v) would magnify them wherever a gradient is ~0 (see test_train_ddp). Dropout is off:
each rank draws its own dropout stream. At the same world size the comparison is exact (bit for bit).
"""

from __future__ import annotations

import json
import os
import shutil
import signal

import pytest
import torch
from helpers import launch
from helpers.train_helpers import build_tiny_for, one_thread, prepare_run, write_jsquad  # noqa: F401
from safetensors.torch import load_file

from qgen.cli.export import main as export_main
from qgen.training.loop import train

pytestmark = pytest.mark.usefixtures("one_thread")
STEPS, HALF = 6, 3


@pytest.fixture(scope="module")
def files(jsquad_valid, tmp_path_factory):
    return write_jsquad(jsquad_valid, tmp_path_factory.mktemp("data"), n_train=24, n_dev=8)


@pytest.fixture(scope="module")
def tiny(files, tmp_path_factory):
    return build_tiny_for(tmp_path_factory.mktemp("tiny"), ["tiny-t5"], files[0])


@pytest.fixture(scope="module")
def conf(files, tiny):
    def make(out, world: int, steps: int, **kw) -> dict:
        prepare_run(out, tiny, dropout=0.0)
        return {"model": "tiny-t5", "train_file": str(files[0]), "valid_file": "", "output_dir": str(out),
                "batch_size": 4 // world, "grad_accum": 2, "max_steps": steps, "log_steps": 1, "optimizer": "sgd",
                "lr": 0.5, "scheduler": "constant", "max_source_len": 64, "max_target_len": 16, "seed": 0,
                "fsdp": True, **kw}

    return make


def torchrun(conf: dict, log, nproc: int = 2) -> str:
    code, text = launch.run(launch.torchrun_cmd(conf, nproc=nproc), log)
    assert code == 0, text[-3000:]
    return text


@pytest.fixture(scope="module")
def runs(conf, tmp_path_factory):
    """Uninterrupted runs of STEPS on 2 processes and on 1, and runs stopped at HALF on each."""
    root = tmp_path_factory.mktemp("dcp")
    torchrun(conf(root / "u2", 2, STEPS), root / "u2.log")
    train(conf(root / "u1", 1, STEPS))
    torchrun(conf(root / "s2", 2, HALF), root / "s2.log")
    train(conf(root / "s1", 1, HALF))
    return root


def exported(run, tmp_path) -> dict:
    out = tmp_path / f"{run.name}-export"
    assert export_main(["--checkpoint", str(run / "last"), "--output", str(out), "--dtype", "fp32"]) == 0
    return load_file(out / "model.safetensors")


def assert_close(got: dict, want: dict) -> None:
    assert got.keys() == want.keys()
    for k in want:
        torch.testing.assert_close(got[k], want[k], atol=1e-6, rtol=1e-5)  # rounding size: see the module note


@pytest.mark.slow
def test_each_rank_writes_its_own_shard(runs):
    dcp = runs / "s2" / "last" / "dcp"
    sizes = {p.name: p.stat().st_size for p in dcp.glob("*.distcp")}
    assert sorted(sizes) == ["__0_0.distcp", "__1_0.distcp"]
    # FSDP shards every parameter and its momentum over both ranks: neither file holds (nearly) the whole state
    total = sum(sizes.values())
    assert all(s < 0.7 * total for s in sizes.values()), sizes
    assert not list((runs / "s2" / "last").glob("*.safetensors"))  # nothing was gathered into rank 0
    assert not list((runs / "s2").glob(".last.*"))  # no temp dir left after the swap


@pytest.mark.slow
def test_same_world_size_resume_is_bit_identical(conf, runs, tmp_path):
    out = tmp_path / "r22"
    shutil.copytree(runs / "s2", out)
    torchrun(conf(out, 2, STEPS, resume=True), tmp_path / "r22.log")
    # best/ (no validation file: the final model, gathered) and the exported shards, bit for bit
    assert (out / "best" / "model.safetensors").read_bytes() == (runs / "u2" / "best" / "model.safetensors").read_bytes()
    got, want = exported(out, tmp_path), exported(runs / "u2", tmp_path)
    assert all(torch.equal(got[k], want[k]) for k in want)


@pytest.mark.slow
def test_resume_two_processes_on_one(conf, runs, tmp_path):
    out = tmp_path / "r21"
    shutil.copytree(runs / "s2", out)
    train(conf(out, 1, STEPS, resume=True))
    assert_close(exported(out, tmp_path), exported(runs / "u1", tmp_path))


@pytest.mark.slow
def test_resume_one_process_on_two(conf, runs, tmp_path):
    out = tmp_path / "r12"
    shutil.copytree(runs / "s1", out)
    log = torchrun(conf(out, 2, STEPS, resume=True), tmp_path / "r12.log")
    assert "resuming" in log and "on 2 processes (saved on 1)" in log
    assert_close(exported(out, tmp_path), exported(runs / "u2", tmp_path))


@pytest.mark.slow
def test_export_of_shards_is_the_trained_model(runs, tmp_path, files):
    """The exported shards equal best/ (gathered by FSDP at the same step) and load with plain transformers and
    predict.py."""
    from transformers import AutoModelForSeq2SeqLM

    from qgen.cli.predict import main as predict_main

    u2 = runs / "u2"
    got, want = exported(u2, tmp_path), load_file(u2 / "best" / "model.safetensors")
    assert got.keys() == want.keys() and all(torch.equal(got[k], want[k]) for k in want)
    out = tmp_path / "u2-export"
    AutoModelForSeq2SeqLM.from_pretrained(out)
    preds = tmp_path / "preds.jsonl"
    assert predict_main(["--model", str(out), "--input", str(files[0]), "--output", str(preds), "--limit", "2"]) == 0
    assert len(preds.read_text().splitlines()) == 2


@pytest.mark.slow
def test_resume_two_processes_on_four(conf, runs, tmp_path):
    u4 = tmp_path / "u4"
    torchrun(conf(u4, 4, STEPS), tmp_path / "u4.log", nproc=4)
    out = tmp_path / "r24"
    shutil.copytree(runs / "s2", out)
    log = torchrun(conf(out, 4, STEPS, resume=True), tmp_path / "r24.log", nproc=4)
    assert "on 4 processes (saved on 2)" in log
    assert_close(exported(out, tmp_path), exported(u4, tmp_path))


@pytest.mark.slow
def test_sigterm_to_every_rank_writes_one_sharded_checkpoint(conf, runs, tmp_path):
    """Pre-emption under --fsdp: both ranks stop after the same step and each writes its shard of that step."""
    out, log = tmp_path / "run", tmp_path / "run.log"
    cmd = launch.torchrun_cmd(conf(out, 2, STEPS, resume=True))
    proc = launch.start(cmd, log, QGEN_TEST_PAUSE_AT="step2:micro1")
    launch.wait_for(log, "QGEN_TEST_PAUSED step2:micro1", count=2, proc=proc)
    for pid in launch.children(proc.pid):
        os.kill(pid, signal.SIGTERM)
    launch.finish(proc)
    text = log.read_text(errors="replace")
    assert text.count("exitcode  : 143") == 2, text[-3000:]
    assert json.loads((out / "last" / "trainer_state.json").read_text())["step"] == 2
    assert sorted(p.name for p in (out / "last" / "dcp").glob("*.distcp")) == ["__0_0.distcp", "__1_0.distcp"]
    torchrun(conf(out, 2, STEPS, resume=True), tmp_path / "again.log")
    got, want = exported(out, tmp_path), exported(runs / "u2", tmp_path)
    assert all(torch.equal(got[k], want[k]) for k in want)  # the same world size: exact
