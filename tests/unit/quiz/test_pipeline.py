"""The quiz pipeline is a Python API: `run_quiz(QuizSettings(...))` needs no argparse, prints no `error:` line and
never exits, and writes what `qgen quiz` writes for the same settings (the command only parses and prints)."""

from __future__ import annotations

import dataclasses
import json
import shutil

import pytest

from qgen.cli.quiz import main as quiz_main
from qgen.core.errors import QgenInputError
from qgen.core.files import write_json
from qgen.models.loading import resolve
from qgen.quiz.pipeline import QuizResult, QuizSettings, run_quiz
from qgen.training.config import TrainConfig

QUESTIONS = [("日本の首都はどこ?", ["大阪", "東京", "京都"], 1), ("富士山がある県は?", ["山梨県", "北海道", "沖縄県"], 0),
             ("一番大きい惑星は?", ["火星", "金星", "木星"], 2), ("猫が好む食べ物は?", ["魚", "石", "砂"], 0),
             ("雪が降る季節は?", ["夏", "冬", "梅雨"], 1), ("空の色は?", ["緑", "赤", "青"], 2)]


def _record(i: int, question: str, choices: list[str], gold: int) -> dict:
    return {"instruction": f"以下の問題について、0, 1, 2の選択肢から選んで答えてください。\n\n問題: {question}\n",
            "input": "\n".join(f"{n}: {c}" for n, c in enumerate(choices)), "output": f"{gold}: {choices[gold]}",
            "id": f"q{i}"}


@pytest.fixture(scope="module")
def setup(tmp_path_factory):
    d = tmp_path_factory.mktemp("quizapi")
    records = [_record(i, *q) for i, q in enumerate(QUESTIONS)]
    texts = [r["instruction"] + r["input"] + r["output"] for r in records] * 20
    ckpt = d / "best"
    shutil.copytree(resolve("tiny-gpt-neox", texts, d / "cache"), ckpt)
    cfg = TrainConfig()
    cfg.model.model, cfg.model.task, cfg.model.prompt_format, cfg.model.max_len = "tiny-gpt-neox", "quiz", "opencalm", 128
    cfg.save(ckpt)
    write_json(d / "dev1.json", records[:4])
    write_json(d / "dev2.json", records[4:])
    return d


def _files(out):
    return (json.loads((out / "result.json").read_text(encoding="utf-8")),
            json.loads((out / "metrics.json").read_text(encoding="utf-8")))


def test_run_quiz_from_python_writes_what_the_command_writes(setup, capsys):
    capsys.readouterr()
    s = QuizSettings(model=str(setup / "best"), input=[setup / "dev1.json", str(setup / "dev2.json")],
                     output_dir=setup / "api", scoring="loglik", batch_size=3)
    result = run_quiz(s)
    assert capsys.readouterr() == ("", "")  # the API prints nothing
    assert isinstance(result, QuizResult) and len(result.records) == len(QUESTIONS)
    assert [p.name for p in result.written] == ["result.json", "metrics.json", "result.log", "reliability.png"]
    records, metrics = _files(setup / "api")
    assert records == result.records and metrics == result.metrics
    assert metrics["overall"]["final"]["n"] == len(QUESTIONS)
    assert metrics["settings"]["max_len_used"] == 128  # the checkpoint's saved input settings
    assert metrics["settings"]["input"] == [str(setup / "dev1.json"), str(setup / "dev2.json")]

    argv = ["--model", str(setup / "best"), "--input", str(setup / "dev1.json"), str(setup / "dev2.json"),
            "--output-dir", str(setup / "cli"), "--scoring", "loglik", "--batch-size", "3"]
    assert quiz_main(argv) == 0
    cli_records, cli_metrics = _files(setup / "cli")
    assert cli_records == records
    assert list(cli_metrics["settings"]) == list(metrics["settings"])  # same keys, same order
    assert {**cli_metrics["settings"], "output_dir": ""} == {**metrics["settings"], "output_dir": ""}


def test_the_settings_check_themselves():
    s = QuizSettings(model="m", input="a.json", output_dir="o")
    assert s.input[0].name == "a.json" and s.output_dir.name == "o"  # paths, whatever was given
    assert s.record()["add_bos_token"] is None
    assert dataclasses.replace(s, add_bos_token=False).record()["add_bos_token"] == "false"  # as the flag spelt it
    for bad in ({"scoring": "vote"}, {"retrieve_all": True}, {"batch_size": 0}, {"loglik_tokenization": "split"},
                {"input": []}):
        with pytest.raises(ValueError):
            dataclasses.replace(s, **bad)


def test_bad_input_is_an_exception_not_an_exit(setup, tmp_path, capsys):
    (tmp_path / "file").write_text("x")
    with pytest.raises(QgenInputError, match="not a directory"):
        run_quiz(QuizSettings(model=str(setup / "best"), input=[setup / "dev1.json"], output_dir=tmp_path / "file"))
    with pytest.raises(QgenInputError):
        run_quiz(QuizSettings(model=str(setup / "best"), input=[tmp_path / "missing.json"], output_dir=tmp_path / "o"))
    assert capsys.readouterr().err == ""


def test_predict_task_quiz_says_what_it_does_before_the_model_is_loaded(setup, tmp_path, capsys):
    """`predict.py --task quiz` printed nothing for 96 s (issue 29): now a line before the model is loaded (questions,
    files, model, threads), a progress line after the first batch, and a note when the answers are at chance."""
    from qgen.cli.predict import main as predict_main

    out = tmp_path / "res"
    argv = ["--task", "quiz", "--model", str(setup / "best"), "--input", str(setup / "dev1.json"),
            str(setup / "dev2.json"), "--output-dir", str(out), "--batch-size", "2", "--threads", "1"]
    assert predict_main(argv) == 0
    said = capsys.readouterr()
    lines = said.err.splitlines()
    assert lines[0] == f"quiz: 6 questions in 2 file(s); loading {setup / 'best'} (1 thread) …"
    assert lines[1].startswith("scoring: 2/6 q (33%), ")  # after the first batch, not only at the end
    scoring = [line for line in lines if line.startswith("scoring: ")]
    assert scoring[-1].startswith("scoring: 6/6 q (100%), ") and sum(line.startswith("scoring: 6/6") for line in lines) == 1
    _, metrics = _files(out)
    assert metrics["settings"]["threads"] == 1
    overall = metrics["overall"]["final"]
    assert ("note: at chance" in said.err) == overall["at_chance"]  # an untrained tiny model: usually at chance
