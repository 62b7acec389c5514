"""predict.py and generate.py decode with one set of defaults (qgen.inference.decoding), so the same settings give the same text."""

from __future__ import annotations

import json

import pytest
from helpers import inference_models

from qgen.cli.generate import build_parser as generate_parser
from qgen.cli.generate import main as generate_main
from qgen.cli.predict import build_parser as predict_parser
from qgen.cli.predict import main as predict_main
from qgen.cli.predict import settings_from_args
from qgen.inference.decoding import GenerationSettings

GREEDY = ["--num-beams", "1", "--no-repeat-ngram-size", "0"]


@pytest.fixture(scope="module")
def models(tmp_path_factory, jsquad_valid):
    return inference_models.build(tmp_path_factory.getbasetemp() / "qgen-inference", jsquad_valid)


@pytest.fixture(scope="module")
def sources(jsquad_valid):
    return [ex.source for ex in inference_models.jsquad_examples(jsquad_valid, "aqg", 4)]


def test_both_tools_parse_the_same_defaults():
    from_generate = settings_from_args(generate_parser().parse_args(["--model", "m", "--source", "s"]))
    from_predict = settings_from_args(predict_parser().parse_args(["--model", "m", "--input", "i", "--output", "o"]))
    assert from_generate == from_predict == GenerationSettings()
    assert GenerationSettings().num_beams == 4 and GenerationSettings(do_sample=True).num_beams == 1


def _predict(model, sources, tmp_path, flags) -> list[str]:
    tsv, out = tmp_path / "in.tsv", tmp_path / "out.jsonl"
    tsv.write_text("".join(f"q{i}\t{s}\tt\n" for i, s in enumerate(sources)), encoding="utf-8")
    # one input per batch, as generate.py: the same computation, so the same text by construction (what batching
    # changes, float rounding only, is checked to a tolerance in test_generation / test_predict — issue 29)
    argv = ["--model", str(model), "--input", str(tsv), "--output", str(out), "--batch-size", "1", *flags]
    assert predict_main(argv) == 0
    return [json.loads(line)["prediction"] for line in out.read_text(encoding="utf-8").splitlines()]


def _generate(model, source, capsys, flags) -> str:
    capsys.readouterr()
    assert generate_main(["--model", str(model), "--source", source, *flags]) == 0
    return capsys.readouterr().out.rstrip("\n")


@pytest.mark.parametrize("flags", [[], GREEDY, ["--num-beams", "3", "--length-penalty", "0.5"]],
                         ids=["defaults", "greedy", "beams3"])
def test_predict_and_generate_write_the_same_text(models, sources, tmp_path, capsys, flags):
    flags = [*flags, "--max-new-tokens", "12"]
    predicted = _predict(models["t5"], sources, tmp_path, flags)
    generated = [_generate(models["t5"], s, capsys, flags) for s in sources]
    assert predicted == generated
    assert all(predicted)


def test_the_defaults_are_not_greedy_here(models, sources, tmp_path):
    """The comparison above can fail: on these inputs the shared defaults and greedy search write different text."""
    assert _predict(models["t5"], sources, tmp_path, ["--max-new-tokens", "12"]) != \
        _predict(models["t5"], sources, tmp_path, [*GREEDY, "--max-new-tokens", "12"])


def test_sampling_with_a_seed_is_the_same_in_both(models, sources, tmp_path, capsys):
    flags = ["--do-sample", "--seed", "5", "--top-k", "20", "--max-new-tokens", "12"]
    assert _predict(models["t5"], sources[:1], tmp_path, flags) == [_generate(models["t5"], sources[0], capsys, flags)]
