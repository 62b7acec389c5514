"""Beyond one machine, on torch's own launcher (torchrun / torch.distributed.elastic), 2 CPU processes with gloo:

- two emulated nodes (two `torchrun --nnodes 2` launchers meeting at a c10d rendezvous) end with the weights of one
  node running 2 processes;
- under `--max-restarts`, a rank lost at any of a chain of points (in a step, in validation, while a checkpoint is
  written, by either rank) makes torchrun restart the group, which resumes from last/ by itself: the final weights are
  bit-identical to the uninterrupted run;
- SIGTERM to every process (a scheduler's pre-emption), to the launcher and the ranks or to the ranks only → one
  checkpoint, exit 143, and the next launch resumes exactly;
- a hung rank (SIGSTOP) stops the run after --dist-timeout with one clear line instead of waiting forever.

Every run: OMP_NUM_THREADS=1, so runs on one machine are bit-identical by construction. One uninterrupted 2-process
run is the reference of the first three tests.
"""

from __future__ import annotations

import json
import os
import re
import signal
import time

import pytest
from helpers import launch
from helpers.train_helpers import build_tiny_for, prepare_run, records, write_jsquad

STEPS = 8


@pytest.fixture(scope="module")
def files(jsquad_valid, tmp_path_factory):
    # 64 rows: 16 global micro-batches of 4 (2 per rank), grad_accum 2 → 8 steps, one epoch
    return write_jsquad(jsquad_valid, tmp_path_factory.mktemp("data"), n_train=64, n_dev=8)


@pytest.fixture(scope="module")
def tiny(files, tmp_path_factory):
    return build_tiny_for(tmp_path_factory.mktemp("tiny"), ["tiny-t5"], files[0])


@pytest.fixture(scope="module")
def conf(files, tiny):
    """conf(out, **kw): the run's settings (dropout on, validation every 2 steps in 2 batches, AdamW)."""

    def make(out, **kw) -> dict:
        prepare_run(out, tiny)
        train, dev = files
        return {"model": "tiny-t5", "train_file": str(train), "valid_file": str(dev), "output_dir": str(out),
                "batch_size": 2, "valid_batch_size": 2, "grad_accum": 2, "max_steps": STEPS, "eval_steps": 2,
                "log_steps": 1, "lr": 2e-3, "max_source_len": 64, "max_target_len": 16, "seed": 0, **kw}

    return make


@pytest.fixture(scope="module")
def reference(conf, tmp_path_factory):
    out = tmp_path_factory.mktemp("ref") / "run"
    code, log = launch.run(launch.torchrun_cmd(conf(out)), out.parent / "ref.log")
    assert code == 0, log[-3000:]
    return out


def assert_same_result(out, ref) -> None:
    """Bit-identical best/ and last/ weights and the same saved state as the reference."""
    for name in ("best", "last"):
        assert (out / name / "model.safetensors").read_bytes() == (ref / name / "model.safetensors").read_bytes(), name
    got, want = (json.loads((d / "last" / "trainer_state.json").read_text()) for d in (out, ref))
    assert got == want


@pytest.mark.slow
def test_two_emulated_nodes_equal_one_node(conf, reference, tmp_path):
    out = tmp_path / "run"
    port = launch.free_port()
    procs = [launch.start(launch.torchrun_cmd(conf(out), launcher=[
        "--nnodes", "2", "--node-rank", str(node), "--nproc_per_node", "1", "--rdzv-backend", "c10d",
        "--rdzv-endpoint", f"127.0.0.1:{port}", "--rdzv-id", "qgen-test"]), tmp_path / f"node{node}.log")
        for node in (0, 1)]
    codes = [launch.finish(p) for p in procs]
    logs = [(tmp_path / f"node{node}.log").read_text(errors="replace") for node in (0, 1)]
    assert codes == [0, 0], "\n".join(log[-2000:] for log in logs)
    assert "world 2" in "".join(logs)
    assert_same_result(out, reference)


# A chain of kill points, in the order one run passes them: the k-th loss is rank R at point P (RANK@POINT;
# qgen.core.files._kill_point; QGEN_TEST_KILL_DONE counts the kills, so an attempt that fails for another reason does
# not shift the chain). Each restart resumes from the newest complete last/ (none before step 2's: a fresh start), so
# every later point is reached again. Pause-point names: qgen.training.loop.
KILLS = [
    "0@valid0:batch1",  # the validation before training
    "1@step1:micro1",  # inside a step, nothing saved yet
    "1@valid2:batch1",  # mid-validation, on the rank that does not write
    "0@save:best:2:weights",  # best/ half-written
    "0@save:last:2:state",  # the first last/ half-written: the restart must start afresh, not take it
    "1@save:last:2:begin",  # rank 1 lost while rank 0 writes last/
    "0@save:last:4:swap",  # last/ complete in its temp dir, not yet swapped in: the restart takes the older one
    "1@step5:optimizer",
    "0@save:last:6:swapped",  # swapped in, the old copy not yet removed
    "0@valid8:batch2",  # the final validation
    "1@save:last:8:begin",  # the final write
]
SPARE = 3  # restarts for attempts that fail for another reason (a busy machine's fork/thread EAGAIN)


@pytest.mark.slow
def test_lost_rank_restarts_and_resumes_bit_identical(conf, reference, tmp_path):
    out = tmp_path / "run"
    cmd = launch.torchrun_cmd(conf(out), launcher=["--standalone", "--nproc_per_node", "2", "--max-restarts",
                                                   str(len(KILLS) + SPARE), "--monitor-interval", "0.1"])
    done = tmp_path / "kills.txt"
    code, log = launch.run(cmd, tmp_path / "run.log", QGEN_TEST_KILL_AT=",".join(KILLS), QGEN_TEST_KILL_DONE=done)
    assert code == 0, log[-4000:]
    killed = [line.split()[1] for line in done.read_text().splitlines()]
    assert killed == KILLS, killed  # every point was reached, in order, and each time a rank was lost there
    assert log.count("resuming from") >= len(KILLS)  # restarts resume by themselves (no --resume given)
    resumed = {int(m) for m in re.findall(r"resumed from \S+ at step (\d+) of", log)}
    assert resumed >= {2, 4, 6}, resumed  # ... from the checkpoints written before each loss, not from scratch
    assert_same_result(out, reference)


def interrupt(cmd, log, point: str, workers_only: bool) -> tuple[int, str]:
    """Start a launch, wait until both ranks are at `point`, SIGTERM it; (torchrun's exit code, the output)."""
    proc = launch.start(cmd, log, QGEN_TEST_PAUSE_AT=point)
    launch.wait_for(log, f"QGEN_TEST_PAUSED {point}", count=2, proc=proc)
    if workers_only:  # every rank, not the launcher (which then reports their exit codes)
        for pid in launch.children(proc.pid):
            os.kill(pid, signal.SIGTERM)
    else:  # as SLURM does: the launcher and every rank (each rank gets the launcher's copy too)
        os.killpg(proc.pid, signal.SIGTERM)
    return launch.finish(proc), log.read_text(errors="replace")


@pytest.mark.slow
def test_sigterm_to_every_rank_checkpoints_once_exits_143_and_resumes(conf, reference, tmp_path):
    out = tmp_path / "run"
    cmd = launch.torchrun_cmd(conf(out), extra=["--resume"])  # a job script's command: resumes when it can
    code, text = interrupt(cmd, tmp_path / "run1.log", "step3:micro1", workers_only=False)
    assert code != 0 and "interrupted: SIGTERM received: stopped after step 3" in text, text[-3000:]
    assert "resume with: torchrun" in text
    assert json.loads((out / "last" / "trainer_state.json").read_text())["step"] == 3  # step 3 finished, then saved
    code, text = interrupt(cmd, tmp_path / "run2.log", "step5:micro2", workers_only=True)
    assert "at step 3 of" in text  # the second launch resumed
    assert text.count("exitcode  : 143") == 2, text[-3000:]  # both ranks: 128 + SIGTERM, after saving
    assert json.loads((out / "last" / "trainer_state.json").read_text())["step"] == 5
    code, text = launch.run(cmd, tmp_path / "run3.log")
    assert code == 0 and "at step 5 of" in text, text[-3000:]
    assert_same_result(out, reference)


@pytest.mark.slow
def test_hung_rank_stops_the_run_with_a_clear_message(conf, tmp_path):
    out = tmp_path / "run"
    # 20 s: above every wait of a healthy run on a busy machine (the others wait while rank 0 tokenises the data)
    cmd = launch.torchrun_cmd(conf(out, dist_timeout=20),
                              launcher=["--standalone", "--nproc_per_node", "2", "--shutdown-timeout", "2"])
    started = time.monotonic()
    code, log = launch.run(cmd, tmp_path / "run.log", QGEN_TEST_KILL_AT="1@step2:micro1@SIGSTOP")
    took = time.monotonic() - started
    assert code != 0
    assert "QGEN_TEST_KILLED rank 1 at step2:micro1" in log
    errors = [line for line in log.splitlines() if line.startswith("error: rank 0: the other ranks did not answer")]
    assert len(errors) == 1, log[-3000:]
    assert "--dist-timeout" in errors[0] and "last saved step" in errors[0]
    assert took < 120, took  # not the default 30 min
    assert records(out, "train")[-1]["step"] == 1
