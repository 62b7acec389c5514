import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from qgen.core.text import SEP, cut_left, normalize, split_title


def test_examples():
    assert normalize("東京 [SEP] 東京は日本の首都です。") == "東京 [SEP] 東京は日本の首都です。"
    assert normalize("ａｂｃ\r\nＡＢＣ") == "abcABC"  # NFKC, newline removed, case kept
    assert normalize("すごーーーい！！") == "すごーい!!"
    assert normalize("タイトル [sep] 本文") == f"タイトル {SEP} 本文"


def test_korean_skips_neologdn():
    # neologdn would delete the space between Hangul words; Korean keeps word spacing
    assert normalize("안녕  하세요\n반갑습니다", lang="ko") == "안녕 하세요 반갑습니다"
    assert normalize("ｶﾀｶﾅ", lang="ko") == "カタカナ"


def test_bad_args():
    with pytest.raises(TypeError):
        normalize(None)
    with pytest.raises(ValueError):
        normalize("x", lang="fr")


def test_split_title():
    assert split_title("題 [SEP] 本文です") == ("題", "本文です")
    assert split_title("本文です") == (None, "本文です")


@settings(max_examples=400, deadline=None)
@given(st.text(), st.sampled_from(["ja", "ko"]))
def test_idempotent(text, lang):
    once = normalize(text, lang)
    assert normalize(once, lang) == once


@settings(max_examples=200, deadline=None)
@given(st.text(alphabet=st.sampled_from(list("あア亜aA1１ 　\n-ー〜~[]SEPsep！?")), max_size=30))
def test_idempotent_japanese_alphabet(text):
    once = normalize(text)
    assert normalize(once) == once
    assert "\n" not in once


@pytest.mark.parametrize("text, expected", [
    ("서울은 한국의 수도이다.", "서울은 한국의 수도이다."),
    ("있다. 1394년 조선 (1392) 의 「서울」 입니다", "있다. 1394년 조선 (1392) 의 「서울」 입니다"),
    ("ソウル 市 の 서울  특별시", "ソウル市の 서울 특별시"),  # Japanese spaces still go; the Korean ones stay (one each)
    ("東京 は 首都", "東京は首都"),
])
def test_japanese_normalisation_keeps_the_spaces_beside_hangul(text, expected):
    # issue 29: Korean data normalised without --lang ko (neologdn) lost every word space: 서울은한국의수도이다.
    assert normalize(text, "ja") == expected


@settings(max_examples=200, deadline=None)
@given(st.text(alphabet=st.sampled_from(list("서울은한 국 東京は (1).「」 \n")), max_size=30))
def test_idempotent_with_hangul(text):
    once = normalize(text)
    assert normalize(once) == once


# ---- cut_left: the one left cut of a prompt that keeps BOS (causal training, generation, quiz prompts) ----------
def test_ids_that_fit_come_back_unchanged():
    ids = [1, 5, 6, 7]
    assert cut_left(ids, [1], 4) is ids
    assert cut_left(ids, [1], 10) is ids


def test_cut_from_the_left_keeping_bos():
    assert cut_left([1, 5, 6, 7, 8], [1], 3) == [1, 7, 8]
    assert cut_left([5, 6, 7, 8], [], 2) == [7, 8]  # no BOS (GPT-2 style): the last ids


def test_room_for_bos_only():
    assert cut_left([1, 5, 6], [1], 1) == [1]
    assert cut_left([1, 5, 6], [1], 0) == []
