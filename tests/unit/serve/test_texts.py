"""The server's text work: candidate spans point into the pasted text, a marked answer is located or refused, and
accepted questions become quiz records that qgen's own quiz reader reads back."""

import json

import pytest

from qgen.data.jsquad import build_source
from qgen.quiz.prompt import read_quiz
from qgen.serve.texts import candidate_spans, locate, question_source, quiz_records, same_answer, sentences

CONTEXT = "東京大学は1877年に設立された日本の国立大学である。本部は東京都文京区本郷にある。「赤門」が有名だ。"


def test_sentences_keep_offsets():
    for at, s in sentences(CONTEXT):
        assert CONTEXT[at:at + len(s)] == s
    assert [s for _, s in sentences(CONTEXT)] == ["東京大学は1877年に設立された日本の国立大学である。",
                                                  "本部は東京都文京区本郷にある。", "「赤門」が有名だ。"]


def test_candidate_spans_point_into_the_text_and_are_maximal():
    spans = candidate_spans(CONTEXT)
    texts = [s.text for s in spans]
    for s in spans:
        assert CONTEXT[s.start:s.start + len(s.text)] == s.text
    assert "1877年" in texts and "東京都文京区本郷" in texts
    assert "文京区" not in texts  # inside the longer 東京都文京区本郷 of the same sentence
    assert len(texts) == len(set(texts))


def test_the_title_marker_is_no_candidate():
    texts = [s.text for s in candidate_spans("梅雨 [SEP] 梅雨は東アジアの気象現象である。")]
    assert "梅雨" in texts and not any("SEP" in t for t in texts)


def test_locate():
    assert locate(CONTEXT, "東京", None) == 0
    assert locate(CONTEXT, "東京", 30) == 30
    with pytest.raises(ValueError, match="offset 3"):
        locate(CONTEXT, "東京", 3)
    with pytest.raises(ValueError, match="does not occur"):
        locate(CONTEXT, "大阪", None)


def test_question_source_is_trainings():
    start = CONTEXT.index("1877年")
    full = question_source("aqg_hl", CONTEXT, "1877年", start, "ja", "full")
    assert full == build_source("aqg_hl", context=CONTEXT, answer="1877年", answer_start=start)
    assert question_source("aqg_hl", CONTEXT, "1877年", start, "ja", "sentence") == \
        "東京大学は <hl> 1877年 <hl> に設立された日本の国立大学である。"


def test_same_answer_after_normalisation():
    assert same_answer("１８７７年", "1877年", "ja")
    assert not same_answer("1877", "1877年", "ja")
    assert not same_answer("", "", "ja")


def test_quiz_records_read_back(tmp_path):
    items = [{"id": "a", "context": CONTEXT, "question": "東京大学はいつ設立された?", "answer": "1877年"},
             {"id": "b", "context": "短い。", "question": "何?", "answer": "短い"}]
    records, skipped = quiz_records(items, 4, seed=0)
    assert [s["index"] for s in skipped] == [1]  # no 3 other candidates in its paragraph
    path = tmp_path / "quiz.json"
    path.write_text(json.dumps(records, ensure_ascii=False), encoding="utf-8")
    (item,) = read_quiz(path)
    assert item.question == "東京大学はいつ設立された?"
    assert len(item.choices) == 4 and item.choices[item.gold] == "1877年"
    assert set(item.choices) - {"1877年"} <= {s.text for s in candidate_spans(CONTEXT)}
    assert quiz_records(items[:1], 4, seed=0)[0] == records  # the same seed, the same choices
