"""The context a model was trained on travels with it (issue 29): qgen-small-ja reads the answer's sentence, but the
README's data preparation gave whole paragraphs (BLEU-4 10.5 instead of 16.7). `context_window` is saved in
input_spec.json, and predict.py / generate.py cut a paragraph input to it, saying so."""

from __future__ import annotations

import json

import pytest

from qgen.cli.generate import main as generate_main
from qgen.cli.predict import main as predict_main
from qgen.core.errors import QgenInputError
from qgen.data.jsquad import convert, window_source
from qgen.data.squad import read_squad
from qgen.models import pretrained
from qgen.models.input_spec import INPUT_SPEC_NAME, read_input_spec
from qgen.training.config import TrainConfig

PARAGRAPH = "東京タワー [SEP] 東京タワーは東京都港区にある電波塔である。1958年に完成した。高さは333mである。"


@pytest.mark.parametrize("task", ["aqg_hl", "aqg"])
def test_cutting_a_paragraph_source_gives_what_data_preparation_gives(jsquad_valid, task):
    """window_source(paragraph source) == the row `prepare_jsquad.py --context-window sentence` writes, for every
    question whose paragraph has no ！/？ (NFKC turns them into !/?, which do not end a sentence: the one documented
    difference of cutting the normalised text)."""
    questions, _ = read_squad(jsquad_valid)
    questions = [q for q in questions if not set("！？!?") & set(q.context)]
    full, sentence = convert(questions, task), convert(questions, task, context_window="sentence")
    assert [e.id for e in full] == [e.id for e in sentence] and len(full) > 20
    assert [window_source(task, e.source, "sentence") for e in full] == [e.source for e in sentence]
    assert sum(a.source != b.source for a, b in zip(full, sentence)) > len(full) // 2  # most really are cut
    assert [window_source(task, e.source, "full") for e in full] == [e.source for e in full]
    assert window_source("qa", "question: 何? context: あ。い。", "sentence") == "question: 何? context: あ。い。"


def test_saved_with_the_model_and_checked(tmp_path):
    assert read_input_spec(pretrained.path("qgen-small-ja")).context_window == "sentence"  # the shipped model
    cfg = TrainConfig()
    cfg.model.context_window = "sentence"
    cfg.save(tmp_path)
    assert json.loads((tmp_path / INPUT_SPEC_NAME).read_text(encoding="utf-8"))["context_window"] == "sentence"
    cfg.model.context_window = "page"
    cfg.data.train_file = str(tmp_path / "train.tsv")
    (tmp_path / "train.tsv").write_text("a\tb\tc\n", encoding="utf-8")
    with pytest.raises(QgenInputError, match="context_window"):
        cfg.check()
    (tmp_path / INPUT_SPEC_NAME).write_text(json.dumps({"context_window": "page"}), encoding="utf-8")
    with pytest.raises(QgenInputError, match="context_window"):
        read_input_spec(tmp_path)


def test_generate_cuts_a_paragraph_to_the_answers_sentence(capsys):
    argv = ["--model", "qgen-small-ja", "--context", PARAGRAPH, "--answer", "1958年", "--show-source",
            "--max-new-tokens", "4", "--num-beams", "1"]
    assert generate_main(argv) == 0
    err = capsys.readouterr().err
    assert "source: 東京タワー [SEP] <hl> 1958年 <hl> に完成した。\n" in err
    assert "reads the answer's sentence" in err and "--context-window full" in err
    assert generate_main([*argv, "--context-window", "full"]) == 0
    err = capsys.readouterr().err
    assert "source: 東京タワー [SEP] 東京タワーは東京都港区にある電波塔である。 <hl> 1958年 <hl> に完成した。高さは333mである。" in err
    assert "reads the answer's sentence" not in err


def test_predict_cuts_paragraph_sources_and_says_how_many(tmp_path, capsys):
    tsv, out = tmp_path / "in.tsv", tmp_path / "out.jsonl"
    rows = ["q1\t東京タワー [SEP] 東京タワーは電波塔である。 <hl> 1958年 <hl> に完成した。高さは333mである。\t何年?",
            "q2\t東京タワー [SEP] <hl> 1958年 <hl> に完成した。\t何年?"]  # already a sentence: left as it is
    tsv.write_text("\n".join(rows) + "\n", encoding="utf-8")
    argv = ["--model", "qgen-small-ja", "--input", str(tsv), "--output", str(out), "--max-new-tokens", "4",
            "--num-beams", "1"]
    assert predict_main(argv) == 0
    sources = [json.loads(line)["source"] for line in out.read_text(encoding="utf-8").splitlines()]
    assert sources == ["東京タワー [SEP] <hl> 1958年 <hl> に完成した。"] * 2
    assert "1 of 2 inputs cut from their paragraph" in capsys.readouterr().err
