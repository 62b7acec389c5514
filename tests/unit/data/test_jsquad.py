"""prepare_jsquad on real JSQuAD/KorQuAD rows (the cut in tests/fixtures/): counts, specific rows, highlight rule,
holdout, round trip. tests/integration/test_real_data.py runs the whole-file checks on the full files."""

import random

import pytest
from hypothesis import assume, given, settings
from hypothesis import strategies as st

from qgen.cli import prepare_jsquad
from qgen.data import jsquad
from qgen.data.examples import read_tsv
from qgen.data.jsquad import HL, answer_in_body, build_source, convert, highlight, holdout_split
from qgen.data.squad import SquadQuestion, read_squad
from qgen.data.tsv import clean, write_tsv


@pytest.fixture(scope="module")
def jsquad_questions(jsquad_valid):
    return read_squad(jsquad_valid)


@pytest.fixture(scope="module")
def korquad_questions(korquad_dev):
    return read_squad(korquad_dev)


def _hl_parts(source: str) -> tuple[str, str, str]:
    """(before, highlighted, after) of a `... <hl> a <hl> ...` source, checking the single spaces around markers."""
    i = source.index(HL)
    j = source.index(HL, i + len(HL))
    assert source.count(HL) == 2
    assert source[i + len(HL)] == " " and source[j - 1] == " "
    assert i == 0 or source[i - 1] == " "
    assert j + len(HL) == len(source) or source[j + len(HL)] == " "
    return source[: max(i - 1, 0)], source[i + len(HL) + 1 : j - 1], source[j + len(HL) + 1 :]


@pytest.mark.parametrize("task", jsquad.TASKS)
def test_all_jsquad_valid_questions_convert(jsquad_valid, tmp_path, capsys, task):
    out = tmp_path / f"{task}.tsv"
    assert prepare_jsquad.main(["--input", str(jsquad_valid), "--task", task, "--output", str(out)]) == 0
    rows = read_tsv(out)
    assert len(rows) == 150  # every question of the fixture (the whole valid split: 4,442, tests/integration)
    assert len({r.id for r in rows}) == 150
    stdout = capsys.readouterr().out
    assert "written 150" in stdout and "skipped 0" in stdout
    first = rows[0]
    assert first.id == "a10336p0q0"
    if task == "qa":
        assert first.source.startswith("question: 日本で梅雨がないのは北海道とどこか。 context: 梅雨 [SEP] 梅雨(つゆ、ばいう)は")
        assert first.target == "小笠原諸島"
    elif task == "aqg":
        assert first.source.startswith("answer: 小笠原諸島 context: 梅雨 [SEP] 梅雨(つゆ")
        assert first.target == "日本で梅雨がないのは北海道とどこか。"
    else:
        assert "北海道と <hl> 小笠原諸島 <hl> を除く日本" in first.source
        assert all(r.source.count(HL) == 2 for r in rows)


def test_highlight_wraps_exactly_the_normalised_answer_on_every_jsquad_row(jsquad_questions):
    questions, _ = jsquad_questions
    rows = convert(questions, "aqg_hl")
    qa = {r.id: r.target for r in convert(questions, "qa")}
    for q, row in zip(questions, rows):
        before, inner, after = _hl_parts(row.source)
        assert inner == qa[row.id] == clean(q.answer)
        # the text around the markers is the normalised context, cut where the annotated span is
        assert before == clean(q.context[: q.answer_start]).strip()
        assert after == clean(q.context[q.answer_start + len(q.answer) :]).strip()


def test_answer_start_is_used_not_first_occurrence_korquad(korquad_questions):
    # 6026706-4-1: "중국" occurs at 484 and 541 before the annotated span at 555 ("2012년에 중국에서 …")
    questions, skips = korquad_questions
    assert len(questions) == 58 and len(skips) == 0  # the fixture's KorQuAD rows, all read
    q = {q.id: q for q in questions}["6026706-4-1"]
    assert q.answer == "중국" and q.context.find("중국") < q.answer_start == 555
    source = highlight(q.context, q.answer_start, q.answer, "ko")
    before, inner, _ = _hl_parts(source)
    assert inner == "중국"
    assert before.endswith("중국 BTV에서는 2012년에")
    assert before.count("중국") == 2


def test_answer_start_rule_synthetic_japanese():
    context = "東京 [SEP] 東京は日本の首都。大阪ではなく東京に皇居がある。"
    start = context.rindex("東京")
    src = build_source("aqg_hl", context=context, answer="東京", answer_start=start)
    assert src == "東京 [SEP] 東京は日本の首都。大阪ではなく <hl> 東京 <hl> に皇居がある。"


def test_jsquad_answers_in_title_and_answer_in_body(jsquad_questions):
    # JSQuAD's answer_start is the answer's first occurrence in "TITLE [SEP] body", so some point at the title
    questions, _ = jsquad_questions
    by_id = {q.id: q for q in questions}
    q = by_id["a10336p20q2"]  # "例年５月～７月に起こる、雨の多い時期を何というか。" → 梅雨, offset 0 (the title)
    assert q.answer == "梅雨" and q.answer_start == 0
    assert highlight(q.context, q.answer_start, q.answer).startswith("<hl> 梅雨 <hl> [SEP] 性質の違う")
    moved = answer_in_body(q)
    assert moved.answer_start > q.context.index("[SEP]")
    assert moved.context[moved.answer_start : moved.answer_start + 2] == "梅雨"
    assert "前線が発生する。 <hl> 梅雨 <hl> 前線を構成" in highlight(moved.context, moved.answer_start, moved.answer)
    in_title = [q for q in questions if q.answer_start < q.context.index("[SEP]")]
    movable = [q for q in in_title if answer_in_body(q) is not q]
    assert (len(in_title), len(movable)) == (17, 11)  # counted on the fixture; whole split (469, 307): tests/integration


def test_holdout_split_by_context(jsquad_valid, tmp_path, capsys):
    train_p, dev_p = tmp_path / "train.tsv", tmp_path / "dev.tsv"
    args = ["--input", str(jsquad_valid), "--task", "qa", "--output", str(train_p),
            "--holdout", "0.1", "--holdout-output", str(dev_p), "--seed", "3"]
    assert prepare_jsquad.main(args) == 0
    train, dev = read_tsv(train_p), read_tsv(dev_p)
    assert len(train) + len(dev) == 150
    assert not {r.id for r in train} & {r.id for r in dev}
    ctx = lambda rows: {r.source.split(" context: ", 1)[1] for r in rows}  # noqa: E731
    assert not ctx(train) & ctx(dev)
    assert len(ctx(dev)) == round(0.1 * len(ctx(train) | ctx(dev)))
    # deterministic: the same command writes the same files
    first = (train_p.read_bytes(), dev_p.read_bytes())
    assert prepare_jsquad.main(args) == 0
    assert (train_p.read_bytes(), dev_p.read_bytes()) == first
    capsys.readouterr()


def test_holdout_split_independent_of_order_and_seeded(jsquad_questions):
    questions, _ = jsquad_questions
    questions = questions[:600]
    _, dev = holdout_split(questions, 0.25, seed=1)
    shuffled = questions[:]
    random.Random(0).shuffle(shuffled)
    _, dev_shuffled = holdout_split(shuffled, 0.25, seed=1)
    assert {q.id for q in dev} == {q.id for q in dev_shuffled}
    _, dev_other_seed = holdout_split(questions, 0.25, seed=2)
    assert {q.id for q in dev} != {q.id for q in dev_other_seed}


def test_limit(jsquad_valid, tmp_path, capsys):
    out = tmp_path / "x.tsv"
    assert prepare_jsquad.main(["--input", str(jsquad_valid), "--task", "aqg", "--output", str(out), "--limit", "7"]) == 0
    assert [r.id for r in read_tsv(out)][:2] == ["a10336p0q0", "a10336p0q1"] and len(read_tsv(out)) == 7
    capsys.readouterr()


def test_korquad_through_prepare_jsquad(korquad_dev, tmp_path, capsys):
    out = tmp_path / "ko.tsv"
    assert prepare_jsquad.main(["--input", str(korquad_dev), "--task", "qa", "--lang", "ko", "--output", str(out)]) == 0
    rows = read_tsv(out)
    assert len(rows) == 58
    assert rows[0].id == "6548850-0-0" and rows[0].target == "1989년 2월 15일"
    assert "임종석이 여의도 농민 폭력 시위를 주도한 혐의로" in rows[0].source  # Korean word spacing kept
    capsys.readouterr()


_ALPHABET = list("あいう東京アイウーｶﾞabcAB12１２ 　\t\n\r-〜~。、()（）[]SEP!！?") + ["[SEP]", "ーー", "  "]


@settings(max_examples=300, deadline=None)
@given(st.lists(st.sampled_from(_ALPHABET), min_size=1, max_size=40), st.data())
def test_highlight_property(pieces, data):
    context = "".join(pieces)
    start = data.draw(st.integers(0, len(context) - 1))
    end = data.draw(st.integers(start + 1, len(context)))
    answer = context[start:end]
    assume(clean(answer))
    source = highlight(context, start, answer)
    before, inner, after = _hl_parts(source)
    assert inner == clean(answer)
    assert before == clean(context[:start]).strip() and after == clean(context[end:]).strip()
    assert not set("\t\n\r") & set(source)
    # stable: highlighting the normalised pieces again gives the same source
    again = before + inner + after
    assert highlight(again, len(before), inner) == source


@settings(max_examples=100, deadline=None)
@given(st.lists(st.tuples(st.text(min_size=1, max_size=15), st.text(min_size=1, max_size=15)), min_size=1, max_size=5))
def test_tsv_round_trip(tmp_path_factory, pairs):
    questions = [SquadQuestion(f"q{i}", q, a, 0, a + q, "", "") for i, (q, a) in enumerate(pairs)]
    rows = convert(questions, "qa")
    assume(rows)
    path = tmp_path_factory.mktemp("rt") / "rows.tsv"
    write_tsv(path, rows)
    assert read_tsv(path) == rows


def test_build_source_for_interactive_use():
    # no answer_start (e.g. generate.py): the first occurrence is marked; an absent answer is an error
    assert build_source("aqg_hl", context="猫と犬と猫", answer="猫") == "<hl> 猫 <hl> と犬と猫"
    assert build_source("qa", context="ｶﾀｶﾅ\n本文", question="何？") == "question: 何? context: カタカナ本文"
    with pytest.raises(ValueError, match="does not occur"):
        build_source("aqg_hl", context="猫と犬", answer="鳥")


def test_same_output_paths_refused(tmp_path, jsquad_valid, capsys):
    out = str(tmp_path / "a.tsv")
    rc = prepare_jsquad.main(["--input", str(jsquad_valid), "--task", "qa", "--output", out, "--holdout", "0.1",
                              "--holdout-output", out])
    err = capsys.readouterr().err  # qgen.core.outputs: one error line naming both flags
    assert rc == 2 and err.startswith("error: ") and "--holdout-output" in err and "the same file as --output" in err
