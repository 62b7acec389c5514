"""Running train.py as a real process for the reliability tests: stop it at an exact point, signal or kill it there.

Kill points are deterministic: the run is started with QGEN_TEST_PAUSE_AT=<point> (a test-only hook, qgen.core.files.pause_point),
prints `QGEN_TEST_PAUSED <point>` on stderr when it gets there and waits; the test then sends SIGKILL (or SIGTERM /
SIGINT, which wake it up). Nothing here sleeps and hopes: the deadline below only turns a hang into a failure, and
that failure shows where the run waited (every thread's stack, printed by faulthandler on SIGABRT).
Every run uses one thread (OMP_NUM_THREADS=1), so runs on one machine are bit-identical by construction.
"""

from __future__ import annotations

import contextlib
import json
import os
import selectors
import signal
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

from helpers.train_helpers import cli_flags

REPO = Path(__file__).resolve().parents[3]
STEPS = 10  # the reference run's length (conftest.make_conf)
HANG_GUARD_S = 600  # a run that neither pauses nor ends within this is a hang, reported as a failure
DUMP_S = 60  # how long a hung run gets to print its stacks after SIGABRT
ENV = {"OMP_NUM_THREADS": "1", "MKL_NUM_THREADS": "1", "HF_HUB_OFFLINE": "1", "TRANSFORMERS_OFFLINE": "1",
       "TOKENIZERS_PARALLELISM": "false"}


@dataclass
class Run:
    returncode: int
    stderr: str
    stdout: str

    def errors(self) -> list[str]:
        return [line for line in self.stderr.splitlines() if line.startswith("error:")]


def train_env(**extra) -> dict:
    env = {k: v for k, v in os.environ.items() if k != "QGEN_TEST_PAUSE_AT"}
    return {**env, **ENV, **{k: str(v) for k, v in extra.items()}}


class ForkServer:
    """Client of forkserver.py: train.py's code in a forked, pre-imported process (see that file)."""

    def __init__(self):
        self.proc = subprocess.Popen([sys.executable, str(Path(__file__).with_name("forkserver.py"))], cwd=REPO,
                                     env=train_env(), stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
        ready = self.proc.stdout.readline()
        assert ready.startswith('{"ready"'), f"forkserver did not start: {ready!r}"

    def request(self, **req) -> dict:
        self.proc.stdin.write(json.dumps(req) + "\n")
        self.proc.stdin.flush()
        return json.loads(self.proc.stdout.readline())

    def close(self) -> None:
        self.proc.stdin.close()
        self.proc.wait(timeout=HANG_GUARD_S)


class _Child:
    """One training process: a plain `python train.py` subprocess, or a forkserver child reporting on a FIFO."""

    def __init__(self, argv: list[str], env: dict, stdout: Path, server: ForkServer | None, command=None,
                 fault: dict | None = None):
        self.server = server
        if server is None:
            assert fault is None, "faults are injected by the forkserver"
            with open(stdout, "wb") as f:
                self.proc = subprocess.Popen([*(command or [sys.executable, str(REPO / "train.py")]), *argv],
                                             cwd=REPO, env={**env, "PYTHONFAULTHANDLER": "1"}, stdout=f,
                                             stderr=subprocess.PIPE)
            self.pid, self.fd = self.proc.pid, self.proc.stderr.fileno()
        else:
            fifo = stdout.with_suffix(".stderr")
            fifo.unlink(missing_ok=True)
            os.mkfifo(fifo)
            self.fd = os.open(fifo, os.O_RDONLY | os.O_NONBLOCK)
            self.pid = server.request(op="run", argv=argv, env=env, cwd=str(REPO), stdout=str(stdout),
                                      stderr=str(fifo), fault=fault)["pid"]
        self.err = bytearray()
        self.returncode: int | None = None

    def read_until(self, marker: bytes | None) -> None:
        """Collect stderr until `marker` appears (None: until the process closes it, i.e. ends). A hang fails with
        the run's stacks at the end of the stderr shown."""
        if not self._collect(marker, HANG_GUARD_S):
            with contextlib.suppress(ProcessLookupError):
                os.kill(self.pid, signal.SIGABRT)  # faulthandler prints every thread's stack, then the run dies
            self._collect(None, DUMP_S)
            raise AssertionError(f"train.py neither reached {marker!r} nor ended within {HANG_GUARD_S} s; its stderr, "
                                 f"ending with where it waited (faulthandler):\n{self.text()[-6000:]}")

    def _collect(self, marker: bytes | None, within_s: float) -> bool:
        """read_until's reading; False when `within_s` passed first."""
        start = len(self.err)
        deadline = time.monotonic() + within_s
        with selectors.DefaultSelector() as sel:
            sel.register(self.fd, selectors.EVENT_READ)
            while marker is None or marker not in self.err[max(0, start - len(marker)):]:
                left = deadline - time.monotonic()
                if left <= 0:
                    return False
                if not sel.select(timeout=left):
                    continue
                try:
                    chunk = os.read(self.fd, 65536)
                except BlockingIOError:
                    continue
                if not chunk:
                    if marker is not None:
                        raise AssertionError(f"train.py ended (exit {self.wait()}) before {marker!r}; "
                                             f"stderr:\n{self.text()[-3000:]}")
                    return True
                self.err += chunk
        return True

    def signal(self, sig: int) -> None:
        os.kill(self.pid, sig)

    def wait(self) -> int:
        if self.returncode is None:
            if self.server is None:
                self.returncode = self.proc.wait(timeout=HANG_GUARD_S)
            else:
                self.returncode = self.server.request(op="wait", pid=self.pid)["returncode"]
                os.close(self.fd)
        return self.returncode

    def text(self) -> str:
        return self.err.decode("utf-8", "replace")

    def ensure_dead(self) -> None:
        if self.returncode is None:
            try:
                os.kill(self.pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
            self.wait()


def run_train(conf: dict, pause: list[str] | None = None, signals: list[int] | None = None, *,
              server: ForkServer | None = None, command: list[str] | None = None, env: dict | None = None,
              fault: dict | None = None) -> Run:
    """Run train.py's code with `conf` (flags from a settings dict): as `python train.py`, or in a forkserver child.
    With `pause`, the run stops at each named point in turn and receives the matching signal from `signals`
    (default SIGKILL for each). `fault`: a failing write (forkserver.install_fault)."""
    pause = pause or []
    signals = signals or [signal.SIGKILL] * len(pause)
    assert len(signals) == len(pause)
    extra = {"QGEN_TEST_PAUSE_AT": ",".join(pause)} if pause else {}
    out_dir = Path(conf["output_dir"])
    out_dir.mkdir(parents=True, exist_ok=True)
    stdout = out_dir.parent / f"{out_dir.name}.stdout"
    child = _Child(cli_flags(conf), {**train_env(**extra), **(env or {})}, stdout, server, command, fault)
    try:
        for point, sig in zip(pause, signals):
            child.read_until(f"QGEN_TEST_PAUSED {point}\n".encode())
            child.signal(sig)
        child.read_until(None)
        child.wait()
    finally:
        child.ensure_dead()
    return Run(child.returncode, child.text(), stdout.read_text(encoding="utf-8", errors="replace"))


def saved_step(directory: Path) -> int | None:
    path = Path(directory) / "trainer_state.json"
    return json.loads(path.read_text())["step"] if path.is_file() else None


def assert_loads(directory: Path, with_state: bool) -> None:
    """A checkpoint directory passes qgen's check and loads with plain transformers (and its state with qgen)."""
    from transformers import AutoModelForSeq2SeqLM, AutoTokenizer

    from qgen.training import checkpoint

    checkpoint.verify(directory, with_state=with_state)
    AutoModelForSeq2SeqLM.from_pretrained(directory)
    AutoTokenizer.from_pretrained(directory)
    if with_state:
        checkpoint.load_state(directory)


def leftovers(out: Path) -> list[str]:
    """Temp / old copies a writer leaves beside best/ and last/ while it works."""
    return sorted(p.name for p in Path(out).iterdir() if p.name.startswith((".best.", ".last.")))


def records(out: Path, event: str) -> list[dict]:
    rows = [json.loads(line) for line in (Path(out) / "metrics.jsonl").read_text().splitlines() if line.strip()]
    return [r for r in rows if r.get("event") == event]


def assert_same_result(out: Path, ref: Path) -> None:
    """Bit-identical weights in best/ and last/, the same saved state and the same logged losses as the reference."""
    for name in ("best", "last"):
        got, want = (out / name / "model.safetensors").read_bytes(), (ref / name / "model.safetensors").read_bytes()
        assert got == want, f"{name}/model.safetensors differs from the uninterrupted run"
        assert (out / name / "trainer_state.json").read_text() == (ref / name / "trainer_state.json").read_text()
    assert [r["loss"] for r in records(out, "train")] == [r["loss"] for r in records(ref, "train")]
    assert records(out, "valid") == records(ref, "valid")
    assert leftovers(out) == []
    assert not (out / ".qgen.lock").exists()


def run_script(path: Path, within_s: float) -> subprocess.CompletedProcess:
    """`python PATH` in the training environment. Past `within_s` it is a hang: SIGABRT makes faulthandler print every
    thread's stack, and the failure shows them (where it waited)."""
    proc = subprocess.Popen([sys.executable, str(path)], cwd=REPO, env=train_env(PYTHONFAULTHANDLER=1),
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        out, err = proc.communicate(timeout=within_s)
    except subprocess.TimeoutExpired:
        proc.send_signal(signal.SIGABRT)
        try:
            err = proc.communicate(timeout=DUMP_S)[1]
        finally:
            proc.kill()
            proc.wait()
        raise AssertionError(f"{path.name} hung ({within_s} s); its stderr, ending with where it waited "
                             f"(faulthandler):\n{err[-6000:]}") from None
    return subprocess.CompletedProcess(proc.args, proc.returncode, out, err)
