"""Launching train.py under torchrun as a user does: standalone, as emulated nodes, with restarts, as a process group
that a test can signal (SLURM / Kubernetes pre-emption)."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

from helpers.train_helpers import cli_flags

REPO = Path(__file__).resolve().parents[2]
TIMEOUT_S = 600  # a launch that does not end within this is a hang, reported as a failure


def env(**extra) -> dict:
    base = {k: v for k, v in os.environ.items() if not k.startswith(("QGEN_TEST_", "TORCHELASTIC_"))}
    return {**base, "OMP_NUM_THREADS": "1", "MKL_NUM_THREADS": "1", "HF_HUB_OFFLINE": "1",
            "TRANSFORMERS_OFFLINE": "1", "TOKENIZERS_PARALLELISM": "false", **{k: str(v) for k, v in extra.items()}}


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def torchrun_cmd(conf: dict, nproc: int = 2, launcher: list[str] | None = None, extra: list[str] = ()) -> list[str]:
    """`torchrun [launcher flags] train.py [flags]`; the default launcher is one standalone node of `nproc` processes."""
    launcher = launcher if launcher is not None else ["--standalone", "--nproc_per_node", str(nproc)]
    return [sys.executable, "-m", "torch.distributed.run", *launcher, str(REPO / "train.py"), *cli_flags(conf),
            *extra]


def start(cmd: list[str], log: Path, **env_extra) -> subprocess.Popen:
    """Start a launcher in its own process group (so a test can signal all of it, as a scheduler does)."""
    f = open(log, "wb")  # noqa: SIM115  (closed when the process ends: the child holds its own copy)
    try:
        return subprocess.Popen(cmd, cwd=REPO, env=env(**env_extra), stdout=f, stderr=subprocess.STDOUT,
                                start_new_session=True)
    finally:
        f.close()


def finish(proc: subprocess.Popen, timeout: float = TIMEOUT_S) -> int:
    try:
        return proc.wait(timeout=timeout)
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, signal.SIGKILL)
        proc.wait()
        raise AssertionError(f"torchrun did not end within {timeout} s") from None


def run(cmd: list[str], log: Path, **env_extra) -> tuple[int, str]:
    """Run a launcher to its end: (exit code, its output and its workers')."""
    code = finish(start(cmd, log, **env_extra))
    return code, log.read_text(encoding="utf-8", errors="replace")


def wait_for(log: Path, marker: str, count: int = 1, proc: subprocess.Popen | None = None,
             timeout: float = TIMEOUT_S) -> None:
    """Poll `log` until `marker` appears `count` times (each rank prints its own pause marker)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if log.read_text(encoding="utf-8", errors="replace").count(marker) >= count:
            return
        if proc is not None and proc.poll() is not None:
            raise AssertionError(f"torchrun ended (exit {proc.returncode}) before {marker!r}:\n"
                                 f"{log.read_text(errors='replace')[-3000:]}")
        time.sleep(0.1)
    raise AssertionError(f"{marker!r} did not appear {count}x within {timeout} s")


def children(pid: int) -> list[int]:
    """The direct child processes of `pid` (torchrun's workers), from /proc."""
    kids = []
    for task in Path(f"/proc/{pid}/task").iterdir():
        kids += [int(k) for k in (task / "children").read_text().split()]
    return kids
