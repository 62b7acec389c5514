"""Flags derived from settings dataclasses: each default lives in the dataclass only, and the parsed flags build it."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import pytest

from qgen.cli.predict import build_parser as predict_parser
from qgen.cli.quiz import build_parser as quiz_parser
from qgen.cli.quiz import settings_from_args
from qgen.inference.decoding import GenerationSettings
from qgen.quiz.pipeline import QuizSettings

REQUIRED = ["--model", "m", "--input", "a.json", "b.json", "--output-dir", "out"]


def test_quiz_flags_default_to_the_settings_defaults():
    parsed = settings_from_args(quiz_parser().parse_args(REQUIRED))
    assert parsed == QuizSettings(model="m", input=[Path("a.json"), Path("b.json")], output_dir=Path("out"))
    assert parsed.input == [Path("a.json"), Path("b.json")] and isinstance(parsed.output_dir, Path)


def test_every_quiz_field_is_a_flag_and_back():
    argv = [*REQUIRED, "--scoring", "loglik", "--add-bos-token", "false", "--max-len", "64", "--retrieval", "idx",
            "--retrieve-all", "--gate-top1", "0.25", "--template-file", "t.yaml"]
    s = settings_from_args(quiz_parser().parse_args(argv))
    assert (s.scoring, s.add_bos_token, s.max_len, s.retrieval, s.retrieve_all, s.gate_top1, s.template_file) == \
        ("loglik", False, 64, Path("idx"), True, 0.25, Path("t.yaml"))
    options = {o for a in quiz_parser()._actions for o in a.option_strings}
    assert {"--" + f.name.replace("_", "-") for f in dataclasses.fields(QuizSettings)} <= options


def test_quiz_settings_that_cannot_work_are_flag_errors(capsys):
    with pytest.raises(ValueError, match="batch_size"):
        settings_from_args(quiz_parser().parse_args([*REQUIRED, "--batch-size", "0"]))
    with pytest.raises(SystemExit):
        quiz_parser().parse_args([*REQUIRED, "--add-bos-token", "maybe"])
    assert "invalid choice" in capsys.readouterr().err


def test_decoding_flags_take_the_generation_defaults():
    args = predict_parser().parse_args(["--model", "m", "--input", "i", "--output", "o"])
    for f in dataclasses.fields(GenerationSettings):
        assert getattr(args, f.name) == f.default  # num_beams: None, decided in __post_init__
    args = predict_parser().parse_args(["--model", "m", "--input", "i", "--output", "o", "--num_beams", "2"])
    assert args.num_beams == 2  # the underscore spelling too
