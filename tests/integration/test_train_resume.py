"""Kill a real training process after it saved last/, resume, and get bit-identical weights to an uninterrupted run."""

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from helpers.train_helpers import (
    build_tiny_for,
    cli_flags,
    one_thread,  # noqa: F401  (a fixture, used by pytestmark)
    prepare_run,
    records,
    settings,
    write_jsquad,
)

from qgen.training.loop import train

REPO = Path(__file__).resolve().parents[2]
STEPS = 8

pytestmark = pytest.mark.usefixtures("one_thread")


@pytest.fixture(scope="module")
def files(jsquad_valid, tmp_path_factory):
    return write_jsquad(jsquad_valid, tmp_path_factory.mktemp("data"), n_train=40, n_dev=8)


@pytest.fixture(scope="module")
def tiny(files, tmp_path_factory):
    return build_tiny_for(tmp_path_factory.mktemp("tiny"), ["tiny-t5"], files[0])




def _saved_step(out: Path) -> int:
    try:
        return json.loads((out / "last" / "trainer_state.json").read_text())["step"]
    except (FileNotFoundError, json.JSONDecodeError):
        return 0


@pytest.mark.slow
def test_killed_run_resumes_bit_identically(tmp_path, files, tiny):
    # 40 examples / batch 4 = 10 micro-batches, grad_accum 2 → 5 steps per epoch: the run crosses epoch ends;
    # dropout stays on (0.1) so the RNG must be restored too
    conf = settings(tmp_path / "x", *files, max_steps=STEPS, grad_accum=2, eval_steps=3, save_steps=2)
    ref = prepare_run(tmp_path / "ref", tiny)
    train({**conf, "output_dir": str(ref)})

    killed = prepare_run(tmp_path / "killed", tiny)
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "TOKENIZERS_PARALLELISM": "false", "OMP_NUM_THREADS": "1"}
    proc = subprocess.Popen([sys.executable, str(REPO / "train.py"), *cli_flags({**conf, "output_dir": str(killed)})],
                            cwd=REPO, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    deadline = time.monotonic() + 300
    while _saved_step(killed) < 2 and proc.poll() is None and time.monotonic() < deadline:
        time.sleep(0.02)
    proc.send_signal(signal.SIGKILL)
    _, err = proc.communicate()
    assert proc.returncode == -signal.SIGKILL, err.decode()[-2000:]
    at = _saved_step(killed)
    assert 2 <= at < STEPS  # really interrupted mid-run

    summary = train({**conf, "output_dir": str(killed), "resume": True})
    assert summary["steps"] == STEPS
    for name in ("last", "best"):
        assert (killed / name / "model.safetensors").read_bytes() == (ref / name / "model.safetensors").read_bytes()
    assert [r["loss"] for r in records(killed, "train")] == [r["loss"] for r in records(ref, "train")]
    assert records(killed, "valid") == records(ref, "valid")
