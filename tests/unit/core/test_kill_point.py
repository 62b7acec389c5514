"""The test-only kill chain (QGEN_TEST_KILL_AT): which entry a torchrun attempt acts on, and that nothing happens
without the variable."""

from __future__ import annotations

import signal

import pytest

from qgen.core import files


@pytest.fixture
def kills(monkeypatch):
    sent = []
    monkeypatch.setattr(files.os, "kill", lambda pid, sig: sent.append(sig))
    monkeypatch.setattr(files.os, "write", lambda fd, data: len(data))
    for name in ("QGEN_TEST_KILL_AT", "QGEN_TEST_KILL_DONE", "TORCHELASTIC_RESTART_COUNT", "RANK"):
        monkeypatch.delenv(name, raising=False)
    return sent


def test_no_variable_no_kill(kills):
    files._kill_point("step1:micro1")
    assert kills == []


def test_entry_by_attempt_and_rank(kills, monkeypatch):
    monkeypatch.setenv("QGEN_TEST_KILL_AT", "0@step1:micro1,1@valid2:batch1@SIGSTOP")
    monkeypatch.setenv("RANK", "1")
    files._kill_point("step1:micro1")  # attempt 0's entry is rank 0's
    assert kills == []
    monkeypatch.setenv("TORCHELASTIC_RESTART_COUNT", "1")
    files._kill_point("step1:micro1")
    files._kill_point("valid2:batch1")
    assert kills == [signal.SIGSTOP]


def test_done_file_skips_attempts_that_killed_nothing(kills, monkeypatch, tmp_path):
    done = tmp_path / "done.txt"
    monkeypatch.setenv("QGEN_TEST_KILL_AT", "0@step1:micro1,0@step3:end")
    monkeypatch.setenv("QGEN_TEST_KILL_DONE", str(done))
    files._kill_point("step1:micro1")  # attempt 0, rank 0
    assert kills == [signal.SIGKILL] and done.read_text() == "0 0@step1:micro1\n"
    monkeypatch.setenv("TORCHELASTIC_RESTART_COUNT", "2")  # attempt 1 failed before any point: 2 takes entry 1
    files._kill_point("step1:micro1")
    files._kill_point("step3:end")
    assert kills == [signal.SIGKILL, signal.SIGKILL]
    assert done.read_text().splitlines() == ["0 0@step1:micro1", "2 0@step3:end"]
