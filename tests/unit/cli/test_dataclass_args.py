"""Flags derived from settings dataclasses: each default lives in the dataclass only, and the parsed flags build it."""

from __future__ import annotations

import argparse
import dataclasses
import typing
from pathlib import Path
from typing import Literal

import pytest

from qgen.cli.dataclass_args import add_dataclass_args, from_args
from qgen.cli.parser import ArgumentParser
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


@dataclasses.dataclass
class _Settings:
    mode: Literal["beam", "sample"] = "beam"
    """how to decode"""
    cache: bool = True
    """keep the cache"""
    width: int = dataclasses.field(default=4, metadata={"help": "beam width"})


def _parser(**kw):
    p = ArgumentParser(prog="x")
    add_dataclass_args(p, _Settings, **kw)
    return p


def test_a_literal_is_choices_a_docstring_is_help_and_a_true_bool_can_be_turned_off(capsys):
    assert from_args(_Settings, _parser().parse_args(["--mode", "sample", "--no-cache"])) == \
        _Settings("sample", False, 4)
    assert _parser().parse_args([]) == argparse.Namespace(mode="beam", cache=True, width=4)
    with pytest.raises(SystemExit):
        _parser().parse_args(["--mode", "greedy"])
    assert "invalid choice: 'greedy'" in capsys.readouterr().err
    text = " ".join(_parser().format_help().split())
    assert "--mode {beam,sample} how to decode" in text and "keep the cache" in text and "beam width" in text


def test_overrides_give_only_the_flags_given_as_strings_for_the_dataclass_to_check():
    p = _parser(overrides=True)
    assert vars(p.parse_args([])) == {}  # nothing given: nothing overrides the settings read from a file
    assert vars(p.parse_args(["--mode", "greedy", "--width", "x", "--no-cache"])) == \
        {"mode": "greedy", "width": "x", "cache": False}  # a bad value is the dataclass's one-line error, not argparse's
    assert "--mode {beam,sample}" in " ".join(p.format_help().split())


def test_train_flags_are_every_config_field():
    from qgen.cli.train import build_parser as train_parser
    from qgen.training.config import GROUPS

    options = {o for a in train_parser()._actions for o in a.option_strings}
    names = [f.name for cls in GROUPS.values() for f in dataclasses.fields(cls)]
    assert {"--" + n.replace("_", "-") for n in names} <= options
    assert {"--no-" + n.replace("_", "-") for cls in GROUPS.values() for n, k in typing.get_type_hints(cls).items()
            if k is bool} <= options
    assert "--precision {auto,fp32,bf16,fp16}" in " ".join(train_parser().format_help().split())
