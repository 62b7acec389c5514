"""Candidate answer spans: noun phrases, quotations and numbers with counters, offsets into the sentence."""

from qgen.inference.answer_spans import (
    answer_spans,
    asks_for_number,
    distance_to_question,
    excluded_by_question,
    holds_number,
    is_choice_question,
    is_option,
)

SENTENCE = "東大寺は、8世紀に聖武天皇の発願で造立された盧舎那仏像を本尊とする寺院である。"


def _texts(sentence, **kw):
    return {sentence[a:b] for a, b in answer_spans(sentence, **kw)}


def test_noun_phrases_and_numbers_are_candidates():
    texts = _texts(SENTENCE)
    assert {"東大寺", "8世紀", "聖武天皇", "盧舎那仏像", "寺院"} <= texts
    # particles, verbs and punctuation never start or end a candidate
    assert not any(t[0] in "はにのでをと、。" or t[-1] in "はにのでをと、。" for t in texts), texts
    assert "造立" not in "".join(t for t in texts if "された" in t)


def test_offsets_are_sorted_unique_and_inside_the_sentence():
    spans = answer_spans(SENTENCE)
    assert spans == sorted(set(spans))
    assert all(0 <= a < b <= len(SENTENCE) for a, b in spans)


def test_quotations_with_and_without_brackets_and_parenthesised_notes():
    sentence = "1300年ごろに「氏子駈帳」が作られ、天皇賞(春)は京都で行われる。"
    texts = _texts(sentence)
    assert {"「氏子駈帳」", "氏子駈帳", "天皇賞(春)", "1300年"} <= texts


def test_max_words_limits_the_length():
    long = "津島高等小学校図書館が開館した。"
    assert "津島高等小学校図書館" in _texts(long)
    assert "津島高等小学校図書館" not in _texts(long, max_words=2)


def test_a_span_the_question_names_is_excluded():
    question = "崀山の世界遺産登録されている大半の面積はどこの地区と重なっていますか?"
    assert excluded_by_question("面積", question)
    assert excluded_by_question("崀山", question)
    assert not excluded_by_question("崀山風景名勝区", question)  # a noun the question does not name
    assert not excluded_by_question("1404年", "アヴァが遠征を開始したのは、何年のことですか?")


def test_a_numeral_alone_does_not_exclude_a_span():
    assert not excluded_by_question("第1作", "1984年の『ゴジラ』は第何作目のゴジラ映画の直接の続編ですか?")


def test_choice_questions_name_their_options():
    assert is_choice_question("米国と英国のうち、型式証明を交付した時期がより遅いのは、どの国の航空局ですか?")
    assert is_choice_question("「宮城風致考」と「皇居の植物」はどちらが後でまとめられましたか?")
    assert not is_choice_question("東大寺の開山は誰?")


def test_options_are_the_listed_names_not_every_named_word():
    question = "米国と英国のうち、型式証明の交付がより遅いのはどの国ですか?"
    assert is_option("米国", question) and is_option("英国", question)
    assert not is_option("型式証明", question) and not is_option("国", "日本の国は?")
    assert all(is_option(x, "イギリス、フランス、オランダのうち、最も遅いのは?") for x in ("イギリス", "フランス", "オランダ"))


def test_questions_asking_for_a_number_and_spans_holding_one():
    for q in ("何年に開館しましたか?", "いつ建てられたか?", "入場料はいくら?", "何人が参加した?", "面積は何平方キロメートル?",
              "どのくらいの期間続いた?"):
        assert asks_for_number(q), q
    for q in ("開山は誰?", "どこの会社と提携した?", "何という名前か?", "何を本尊とするか?"):
        assert not asks_for_number(q), q
    assert holds_number("8世紀") and holds_number("三百人") and holds_number("２０歳")
    assert not holds_number("聖武天皇") and not holds_number("盧舎那仏像")


def test_distance_to_the_questions_words_outside_the_span():
    sentence = "開山は奈良の良弁である。"
    at = sentence.index("良弁")
    assert distance_to_question(sentence, at, at + 2, "開山は誰?") == 3  # 山は ends three characters (奈良の) before 良弁
    assert distance_to_question(sentence, at, at + 2, "良弁とは?") is None  # only the span itself is shared
    assert distance_to_question(sentence, at, at + 2, "である人は?") == 0  # である starts right after the span
