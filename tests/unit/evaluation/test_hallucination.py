"""qgen.evaluation.hallucination: the documented examples, the matching rules, and fast path == plain GiNZA analysis on JSQuAD."""

import json

import pytest

from qgen.evaluation import hallucination as H
from qgen.evaluation.ginza_tokens import SUDACHI_MAX_BYTES
from qgen.evaluation.hallucination import (
    QUESTION_STOP_WORDS,
    analyse,
    hallucination,
    hallucination_rate,
    hallucinations,
)


@pytest.mark.parametrize(
    ("candidate", "reference", "expected"),
    [
        ("今日はわるい天気だ", "今日はわるい天気だ", set()),
        ("今日は天気だ", "今日はわるい天気だ", set()),
        ("今日はわるい天気だ", "今日は天気だ", {"わるい"}),
        ("今日はわるい天気だ", "今日はよい天気だ", {"わるい"}),
    ],
)
def test_documented_examples(candidate, reference, expected):
    assert hallucination(candidate, reference) == expected
    assert hallucinations([candidate], [reference], workers=1) == [expected]


def test_matching_rules():
    # lemma: the inflected verb 完成し (lemma 完成/する) occurs as 完成する; norm: わるい is normalised to 悪い
    assert hallucination("1958年に完成した", "完成する") == {"1958", "年"}
    assert hallucination("わるい天気", "悪い天気") == set()
    # Sudachi splits 労働関係調整法 in the question but not in the context: the substring rule keeps it
    context = "労働基準法、労働組合法、労働関係調整法のいわゆる労働三法が制定されている。"
    assert hallucination("労働基準法と労働関係調整法とあとひとつは", context) == {"あと", "ひと", "つ"}
    # pronouns, particles, auxiliaries and punctuation are not content words
    assert hallucination("それはですか。", "") == set()
    # proper nouns and numerals are content words
    assert hallucination("東京タワーは333メートル", "") == {"東京", "タワー", "333", "メートル"}
    # stop words match surface, lemma or norm
    assert hallucination("何年に完成したか", "1958年に完成") == {"何"}
    assert hallucination("何年に完成したか", "1958年に完成", stop_words=QUESTION_STOP_WORDS) == set()


def test_edge_cases():
    assert hallucination("", "今日は天気だ") == set()
    assert hallucination("天気", "") == {"天気"}
    assert hallucination_rate(["今日はわるい天気だ", "今日は天気だ"], ["今日は天気だ", "今日は天気だ"]) == 0.5
    with pytest.raises(ValueError, match="2 candidates but 1 references"):
        hallucinations(["a", "b"], ["a"])
    with pytest.raises(ValueError, match="no candidates"):
        hallucination_rate([], [])
    with pytest.raises(TypeError, match="candidate 1 is NoneType"):
        hallucinations(["a", None], ["a", "b"])
    with pytest.raises(TypeError):
        hallucination(None, "a")


def test_text_over_sudachi_limit_is_analysed_in_pieces():
    long = "今日はわるい天気だ。" * 6000  # ~162 kB, over Sudachi's 49,149-byte limit
    for text in (long, "あ" * 100_000, "い。" * 20_000 + "う" * 70_000):  # sentences, one huge run, both
        pieces = H._pieces(text)
        assert len(pieces) > 1 and "".join(pieces) == text
        assert all(0 < len(p.encode("utf-8")) <= SUDACHI_MAX_BYTES for p in pieces)
    assert hallucination("わるい雨", long) == {"雨"}
    assert hallucinations(["わるい雨"], [long], workers=1) == [{"雨"}]


@pytest.fixture(scope="module")
def jsquad_pairs(jsquad_valid):
    data = json.loads(jsquad_valid.read_text(encoding="utf-8"))["data"]
    return [(q["question"], p["context"]) for a in data for p in a["paragraphs"] for q in p["qas"]]


def test_fast_path_equals_plain_analysis_on_jsquad(jsquad_pairs):
    pairs = jsquad_pairs[:1500]
    texts = list(dict.fromkeys(t for pair in pairs for t in pair))
    fast = H._local()
    assert [fast.tokens(t) for t in texts] == [analyse(t) for t in texts]  # token for token
    cands, refs = [q for q, _ in pairs], [c for _, c in pairs]
    plain = [hallucination(q, c) for q, c in pairs]
    assert hallucinations(cands, refs, workers=1) == plain
    assert any(plain) and not all(plain)  # a real mix, so the comparison means something


@pytest.mark.parametrize("start_method", ["fork", "spawn"])
def test_worker_processes_give_the_same_result(jsquad_pairs, start_method, monkeypatch):
    monkeypatch.setattr(H, "_start_method", lambda: start_method)
    pairs = jsquad_pairs[:400]
    cands, refs = [q for q, _ in pairs], [c for _, c in pairs]
    one = hallucinations(cands, refs, QUESTION_STOP_WORDS, workers=1)
    assert hallucinations(cands, refs, QUESTION_STOP_WORDS, workers=2) == one


def test_details_count_distinct_content_words():
    # 天気 twice counts once; だ/は are not content words; 今日 is a stop word here
    assert H.hallucination_details(["今日は天気、天気だ"], ["雨"], stop_words={"今日"}, workers=1) == [({"天気"}, 1)]
