"""Command lines: each command names itself as invoked, no flag prefix is taken for another flag, help shows quiz flags."""

from __future__ import annotations

import pytest

from qgen.cli import main as qgen_main
from qgen.cli.predict import main as predict_main


def _help(capsys, call, argv) -> str:
    with pytest.raises(SystemExit) as e:
        call(argv)
    assert e.value.code == 0
    return capsys.readouterr().out


@pytest.mark.parametrize("call, argv, usage", [
    (qgen_main, ["quiz", "--help"], "usage: qgen quiz "),
    (qgen_main, ["quiz", "eval", "--help"], "usage: qgen quiz "),
    (qgen_main, ["quiz", "tune-gate", "--help"], "usage: qgen quiz tune-gate "),
    (qgen_main, ["predict", "--task", "quiz", "--help"], "usage: qgen predict --task quiz "),
    (qgen_main, ["train", "--help"], "usage: qgen train "),
    (qgen_main, ["index", "build", "--help"], "usage: qgen index build "),
    (predict_main, ["--task", "quiz", "--help"], "usage: predict.py --task quiz "),
    (predict_main, ["--help"], "usage: predict.py "),
])
def test_usage_names_the_command_as_invoked(capsys, call, argv, usage):
    assert _help(capsys, call, argv).startswith(usage)


def test_predict_help_shows_the_quiz_mode(capsys):
    text = _help(capsys, predict_main, ["--help"])
    assert "[--output OUTPUT]" in text  # not required: a quiz run has --output-dir instead
    assert "predict.py --task quiz --model DIR --input FILE [FILE ...] --output-dir DIR" in text
    assert "--scoring" in text and "--retrieval" in text and "predict.py --task quiz --help" in text


def test_predict_still_needs_output_without_quiz(tmp_path, capsys):
    with pytest.raises(SystemExit) as e:
        predict_main(["--model", "m", "--input", str(tmp_path / "in.tsv")])
    assert e.value.code == 2 and "--output" in capsys.readouterr().err


@pytest.mark.parametrize("argv, flag", [
    (["--task", "quiz", "--model", "m", "--input", "q.json", "--output-d", "res"], "--output-d"),  # prefix of --output-dir
    (["--model", "m", "--input", "in.tsv", "--out", "o.jsonl"], "--out"),  # prefix of --output
])
def test_no_flag_abbreviations(tmp_path, capsys, monkeypatch, argv, flag):
    monkeypatch.chdir(tmp_path)
    with pytest.raises(SystemExit) as e:
        predict_main(argv)
    assert e.value.code == 2 and flag in capsys.readouterr().err
    assert list(tmp_path.iterdir()) == []
