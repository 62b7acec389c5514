"""Sentence-level context window (`context_window="sentence"`) on real JSQuAD rows (tests/fixtures/) and synthetic edge
cases; tests/integration/test_real_data.py runs check_sentence_windows on the whole valid split."""

import pytest

from qgen.cli import prepare_jsquad
from qgen.data import jsquad
from qgen.data.examples import read_tsv
from qgen.data.jsquad import HL, convert, sentence_window
from qgen.data.squad import SquadQuestion, read_squad
from qgen.data.tsv import clean

ENDS = "。！？"


@pytest.fixture(scope="module")
def jsquad_questions(jsquad_valid):
    return read_squad(jsquad_valid)[0]


def _prefix_len(context: str) -> int:
    i = context.find("[SEP]")
    if i < 0:
        return 0
    rest = context[i + len("[SEP]") :]
    return len(context) - len(rest.lstrip())


def check_sentence_windows(questions) -> None:
    """Each answer stays inside its window of whole sentences, and most windows are shorter than the paragraph."""
    shorter = 0
    for q in questions:
        w = sentence_window(q)
        assert w.context[w.answer_start : w.answer_start + len(w.answer)] == w.answer, q.id
        body = _prefix_len(q.context)
        assert w.context[:body] == q.context[:body]  # "TITLE [SEP]" kept as is
        cut = w.context[body:]
        pos = q.context.find(cut, body)
        assert pos >= 0, q.id  # the body part is one contiguous piece of the original body
        # whole sentences: starts after an end mark (or at the body start), ends on one (or at the context end)
        assert pos == body or q.context[pos - 1] in ENDS, q.id
        assert pos + len(cut) == len(q.context) or cut[-1] in ENDS, q.id
        if w.answer_start >= body:  # no sentence end inside the window except within the answer span or at its end
            a0, a1 = w.answer_start - body, w.answer_start - body + len(w.answer)
            assert all(a0 <= i < a1 for i, c in enumerate(cut[:-1]) if c in ENDS), q.id
        else:  # answer only in the title: the body's first sentence
            assert pos == body and q.answer not in q.context[body:]
        shorter += len(w.context) < len(q.context)
    assert shorter > 0.9 * len(questions)


def test_every_jsquad_answer_stays_inside_its_sentence_window(jsquad_questions):
    assert len(jsquad_questions) == 150  # every question of the fixture
    check_sentence_windows(jsquad_questions)


def test_known_row_second_sentence(jsquad_questions):
    # a10336p0q1: 雨季 is in the paragraph's second (last) sentence "雨季の一種である。"
    q = {q.id: q for q in jsquad_questions}["a10336p0q1"]
    assert q.answer == "雨季"
    [row] = convert([q], "aqg", context_window="sentence")
    assert row.source == "answer: 雨季 context: 梅雨 [SEP] 雨季の一種である。"
    [hl] = convert([q], "aqg_hl", context_window="sentence")
    assert hl.source == f"梅雨 [SEP] {HL} 雨季 {HL} の一種である。"


def test_answer_in_title_is_moved_into_the_body(jsquad_questions):
    q = {q.id: q for q in jsquad_questions}["a10336p20q2"]  # 梅雨 at offset 0 (the title), also in the body
    w = sentence_window(q)
    assert w.answer_start > w.context.index("[SEP]")
    assert w.context[w.answer_start : w.answer_start + 2] == "梅雨"


def test_synthetic_windows():
    def win(context, answer, start=None):
        start = context.index(answer) if start is None else start
        w = sentence_window(SquadQuestion("x", "q", answer, start, context, "", ""))
        assert w.context[w.answer_start : w.answer_start + len(answer)] == answer
        return w.context

    assert win("甲府は県庁所在地。山梨県にある！本当？", "山梨県") == "山梨県にある！"
    assert win("一文目。二文目。", "二文目。") == "二文目。"  # answer ending on the mark: its sentence only
    assert win("一文目。二文目。三文目", "目。二", 2) == "一文目。二文目。"  # crossing a sentence end keeps both
    assert win("終わりなし", "なし") == "終わりなし"
    assert win("T [SEP] 甲。乙の丙。丁。", "丙") == "T [SEP] 乙の丙。"
    assert win("甲 [SEP] 乙。甲。", "甲", 0) == "甲 [SEP] 甲。"  # moved to the title's first occurrence in the body
    assert win("丙 [SEP] 乙。甲。", "丙", 0) == "丙 [SEP] 乙。"  # not in the body: the first sentence


def test_full_window_is_the_default_and_unknown_window_refused(jsquad_questions):
    qs = jsquad_questions[:50]
    assert convert(qs, "aqg") == convert(qs, "aqg", context_window="full")
    with pytest.raises(ValueError, match="context window"):
        convert(qs, "aqg", context_window="paragraph")


def test_cli_context_window_sentence(jsquad_valid, tmp_path, capsys):
    train_p, dev_p = tmp_path / "train.tsv", tmp_path / "dev.tsv"
    args = ["--input", str(jsquad_valid), "--task", "aqg", "--output", str(train_p), "--holdout", "0.1",
            "--holdout-output", str(dev_p), "--context-window", "sentence"]
    assert prepare_jsquad.main(args) == 0
    assert "skipped 0" in capsys.readouterr().out
    train, dev = read_tsv(train_p), read_tsv(dev_p)
    # the split is by whole paragraph, as with full contexts: the same ids on each side
    questions = read_squad(jsquad_valid)[0]
    train_q, dev_q = jsquad.holdout_split(questions, 0.1, seed=0)
    assert [r.id for r in train] == [q.id for q in train_q] and [r.id for r in dev] == [q.id for q in dev_q]
    src_ctx = [r.source.split(" context: ", 1)[1] for r in train + dev]
    by_id = {q.id: q for q in questions}
    assert all(clean(by_id[r.id].answer) in c for r, c in zip(train + dev, src_ctx))
    mean = sum(map(len, src_ctx)) / len(src_ctx)
    assert mean < 0.5 * sum(len(clean(q.context)) for q in questions) / len(questions)
