"""torch's CPU threads (issue 29): every command takes `--threads`, and 0 (the default) leaves the busy cores to the
work already on them instead of starting one thread per core on a loaded machine."""

from __future__ import annotations

import pytest

from qgen.core.threads import MAX_THREADS, auto_threads, check_threads


@pytest.mark.parametrize("cores,load,expected", [
    (2, 0.1, 2),  # idle: every core
    (2, 1.3, 1),  # one other job busy: one thread, not two fighting it
    (2, 12.5, 1),  # 8 agents on 2 cores: still at least 1
    (16, 3.6, 12),  # the free cores, rounded
    (4, 0.0, 4),
])
def test_auto_threads_leaves_the_busy_cores_alone(cores, load, expected):
    assert auto_threads(cores, load, environ={}) == expected


def test_auto_threads_takes_the_users_choice_and_shares_a_torchrun_node():
    assert auto_threads(8, 0.0, environ={"OMP_NUM_THREADS": "3"}) == 3  # set by the user or by torchrun (1)
    assert auto_threads(8, 0.0, environ={"LOCAL_WORLD_SIZE": "4"}) == 2  # 4 ranks on 8 idle cores: 2 each
    assert auto_threads(8, 0.0, environ={"OMP_NUM_THREADS": "x"}) == 8  # not a count: ignored


@pytest.mark.parametrize("value", [-1, MAX_THREADS + 1, 100000, 2.5, True])
def test_check_threads_refuses_what_torch_cannot_do(value):
    with pytest.raises(ValueError, match="must be 0"):
        check_threads(value)


@pytest.mark.parametrize("command,argv", [
    ("predict", ["--model", "runs/none", "--input", "x.tsv", "--output", "o.jsonl"]),
    ("generate", ["--model", "runs/none", "--context", "c", "--answer", "c"]),
    ("quiz", ["--model", "runs/none", "--input", "q.json", "--output-dir", "o"]),
    ("eval", ["--predictions", "p.jsonl"]),
])
def test_every_command_takes_threads_and_refuses_a_bad_count(command, argv, capsys):
    """predict.py, generate.py, the quiz and `qgen eval` had no --threads (issue 29): here each refuses 100000 (torch
    segfaults on it) with one error line, before any file or model is read."""
    from qgen import cli

    with pytest.raises(SystemExit) as e:
        cli.main([command, *argv, "--threads", "100000"])
    assert e.value.code == 2
    err = capsys.readouterr().err
    assert "threads" in err and "must be 0" in err and "Traceback" not in err
