"""Two runs, one output directory: the second refuses with one clear `error:` line while the first lives; the lock
goes with the first run however it ends (clean exit, error, kill -9), and a lock file left by a dead run is taken
over."""

import logging
import signal
import subprocess
import sys

import pytest
from helpers.train_helpers import cli_flags, one_thread  # noqa: F401  (fixture)

from qgen.cli.train import main
from qgen.core.files import DirLock, DirLockedError

from .reliability_helpers import _Child, train_env


@pytest.mark.usefixtures("one_thread")
def test_second_run_refused_then_lock_of_killed_run_taken_over(make_conf, server, tmp_path, capsys, caplog):
    out = tmp_path / "run"
    conf = make_conf(out, max_steps=3)
    out.mkdir(exist_ok=True)
    first = _Child(cli_flags(conf), train_env(QGEN_TEST_PAUSE_AT="step2:micro1"), tmp_path / "first.stdout", server)
    try:
        first.read_until(b"QGEN_TEST_PAUSED step2:micro1\n")  # alive, holding the lock, mid-run
        capsys.readouterr()
        assert main(cli_flags({**conf, "resume": True})) == 2
        err = capsys.readouterr().err
        errors = [line for line in err.splitlines() if line.startswith("error:")]
        assert len(errors) == 1 and "Traceback" not in err, err
        assert str(out) in errors[0] and "in use by another run" in errors[0] and f"pid {first.pid}" in errors[0]
        first.signal(signal.SIGKILL)
        assert first.wait() == -signal.SIGKILL
    finally:
        first.ensure_dead()
    assert (out / DirLock.NAME).exists()  # a crash cannot remove it …
    with caplog.at_level(logging.WARNING, logger="qgen.training.loop"):
        assert main(cli_flags({**conf, "resume": True})) == 0  # … but the kernel dropped the flock: taken over
    assert f"pid {first.pid}" in caplog.text and "no longer running" in caplog.text
    assert not (out / DirLock.NAME).exists()  # a clean exit removes it


def test_lock_in_process(tmp_path):
    with DirLock(tmp_path / "run") as held:
        with pytest.raises(DirLockedError, match=r"in use by another run \(pid \d+ on "):
            DirLock(tmp_path / "run").acquire()
        assert held.previous == ""
    assert not (tmp_path / "run").exists()  # created for the lock and empty: removed with it
    with DirLock(tmp_path / "run"):
        pass


def test_stale_lock_file_from_a_dead_pid_is_taken_over(tmp_path):
    dead = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True, text=True)
    pid = int(dead.stdout)
    (tmp_path / DirLock.NAME).write_text(f"pid {pid} on somehost, since 2024-01-01 00:00:00\n")
    with DirLock(tmp_path) as lock:
        assert lock.previous.startswith(f"pid {pid} ")
        assert (tmp_path / DirLock.NAME).read_text().startswith(f"pid {__import__('os').getpid()} ")
    assert not (tmp_path / DirLock.NAME).exists()


def test_failed_run_releases_the_lock(make_conf, tmp_path, capsys):
    out = tmp_path / "run"
    (tmp_path / "empty").mkdir()
    conf = make_conf(out, model=str(tmp_path / "empty"))  # fails while holding the lock: no model to load
    assert main(cli_flags(conf)) == 2
    assert "cannot load the model" in capsys.readouterr().err
    assert not (out / DirLock.NAME).exists()
