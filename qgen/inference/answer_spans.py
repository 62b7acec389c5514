"""Candidate answers of a Japanese sentence: its noun phrases, quoted titles and numbers with their counters.

A reader that picks a span of the paragraph cannot answer with a label prior (`1年`) or a half-copied phrase, which is
what a small generative reader does (qgen-small-ja's greedy QA). Answers of extractive QA sets are mostly noun phrases:
a candidate is a run of up to `max_words` MeCab words (unidic-lite) that are nouns, adjectival nouns, prefixes, suffixes, numerals or a
joining mark (・ー-), starting on neither a suffix nor ending on a prefix; a 「…」 or 『…』 quotation (with and without
its brackets) and a run followed by a short parenthesised note (`天皇賞(春)`) are candidates too. On 300 questions of
JaQuAD train's held-out paragraphs the gold answer is a candidate of its paragraph for 89% of them, and one of the
reader's candidates (the two sentences most like the question, after the exclusions below) for 76%.

A candidate the question already names (`年` for `何年`, `面積` for `…の面積は`) is not an answer to it: spans that
occur in the question, or whose nouns of two or more characters all do, are dropped (`excluded_by_question`) — except
in a choice question (`AとBのうち、どちら…`, `…の中で`: 13% of JaQuAD's held-out train questions), whose answer is one
of the options it names: there only the spans the question lists as options are kept (`is_choice_question`, `is_option`).

Two cues of the classic sliding-window readers help the model's scores pick among the candidates (measured on held-out
JaQuAD train, configs/qgen-small-ja/NOTES.md): the answer type — a question asking for a number (`何年`, `いつ`,
`いくら`, `何人`: 30% of them) has a number in its answer, the others mostly do not (`asks_for_number`,
`holds_number`) — and the distance from the span to the words it shares with the question (`distance_to_question`).
"""

from __future__ import annotations

import re
import threading

_JOINERS = set("・ー-")
_PHRASE_POS = ("名詞", "接頭辞", "接尾辞", "形状詞")  # unidic: 形状詞 is an adjectival noun (高等 of 高等小学校)
_QUOTED_RE = re.compile(r"「[^」]{1,40}」|『[^』]{1,40}』")
_BRACKETS = ("「」", "『』", "()")
_CHOICE_RE = re.compile(r"どちら|どっち|のうち|の中で|それとも")
_OPTION_BEFORE = "と"
_COUNTERS = "年月日人歳才回度%％時分秒倍位番号割件台本枚冊名点万億千百世代階週円票戦勝作社校曲機隻頭羽匹軒箇ヶカかケ"
_NUMBER_QUESTION_RE = re.compile(
    r"いつ|いくら|いくつ|どれ(?:くらい|ぐらい|だけ|ほど)|どの(?:くらい|ぐらい|程度)"
    rf"|何[{_COUNTERS}]|何(?:メートル|キロ|パーセント|センチ|トン|ドル|リットル|グラム|ヘクタール|平方|種類|試合)")
_DIGIT_RE = re.compile(r"[0-9０-９]")
_OPTION_AFTER = ("と", "、", ",", "のうち", "の中", "のどちら", "のどっち", "か、", "どちら")


_local = threading.local()


def _tagger():
    """This thread's MeCab tagger: one per thread, since one tagger must not tag for two threads at once (`qgen serve`
    lists candidates on its event loop while a worker thread reads)."""
    tagger = getattr(_local, "tagger", None)
    if tagger is None:
        import fugashi  # MeCab (unidic-lite): loaded on the first sentence

        tagger = _local.tagger = fugashi.Tagger()
    return tagger


def _words(text: str) -> list[tuple[int, int, str, str]]:
    """(start, end, pos1, pos2) of each MeCab word of `text`, offsets into `text`."""
    out, at = [], 0
    for w in _tagger()(text):
        start = text.find(w.surface, at)
        if start < 0:  # MeCab dropped or rewrote a character: keep offsets honest by skipping the word
            continue
        at = start + len(w.surface)
        out.append((start, at, w.feature.pos1, w.feature.pos2))
    return out


def _phrase_word(word: tuple[int, int, str, str], text: str) -> bool:
    start, end, pos1, pos2 = word
    return pos1 in _PHRASE_POS or pos2 == "数詞" or (pos1 == "補助記号" and text[start:end] in _JOINERS)


def answer_spans(sentence: str, max_words: int = 8) -> list[tuple[int, int]]:
    """Candidate answer spans of `sentence` as (start, end) character offsets, sorted, without duplicates."""
    words = _words(sentence)
    ok = [_phrase_word(w, sentence) for w in words]
    spans = set()
    for i, first in enumerate(words):
        if not ok[i] or first[2] == "接尾辞":
            continue
        for j in range(i, min(len(words), i + max_words)):
            if not ok[j]:
                break
            if words[j][2] != "接頭辞":
                spans.add((first[0], words[j][1]))
    for m in _QUOTED_RE.finditer(sentence):
        spans.update({(m.start(), m.end()), (m.start() + 1, m.end() - 1)})
    for a, b in list(spans):
        if 0 < a and b < len(sentence) and sentence[a - 1] + sentence[b] in _BRACKETS:
            spans.add((a - 1, b + 1))
        if b < len(sentence) and sentence[b] == "(":
            close = sentence.find(")", b)
            if 0 < close - b < 8:
                spans.add((a, close + 1))
    return sorted((a, b) for a, b in spans if b > a and sentence[a:b].strip())


def excluded_by_question(span: str, question: str) -> bool:
    """True when the question already names `span` (it occurs in the question, or each of its nouns of two or more
    characters does; a numeral or a one-character noun alone, as 1 of `第1作` in `16作目`, does not count)."""
    if span in question:
        return True
    nouns = [span[a:b] for a, b, pos1, _ in _words(span) if pos1 == "名詞" and b - a > 1]
    return bool(nouns) and all(n in question for n in nouns)


def is_choice_question(question: str) -> bool:
    """A question that names its options (`米国と英国のうち…どの国`, `…の中で`, `どちら`): its answer is one of them."""
    return bool(_CHOICE_RE.search(question))


def is_option(span: str, question: str) -> bool:
    """`span` stands in the question as one of a list of options: after と, or before と, 、, のうち, の中,
    のどちら (`米国と英国のうち`: 米国 and 英国, not 型式 of `型式証明`)."""
    at = question.find(span)
    while at >= 0:
        after = question[at + len(span):]
        if (at > 0 and question[at - 1] in _OPTION_BEFORE) or after.startswith(_OPTION_AFTER):
            return True
        at = question.find(span, at + 1)
    return False


def asks_for_number(question: str) -> bool:
    """The question wants a quantity, a date or a rank: いつ, いくら, どのくらい, 何 + a counter (何年, 何人, 何%)."""
    return bool(_NUMBER_QUESTION_RE.search(question))


def holds_number(span: str) -> bool:
    """The span has a digit or a MeCab numeral (三, 百)."""
    return bool(_DIGIT_RE.search(span)) or any(pos2 == "数詞" for _, _, _, pos2 in _words(span))


def distance_to_question(sentence: str, start: int, end: int, question: str) -> int | None:
    """Characters between sentence[start:end] and the nearest character bigram of the sentence outside the span that
    the question also has; None when the sentence shares none."""
    shared = {question[i:i + 2] for i in range(len(question) - 1)}
    gaps = [max(start - i - 2, i - end, 0) for i in range(len(sentence) - 1)
            if sentence[i:i + 2] in shared and (i + 2 <= start or i >= end)]
    return min(gaps, default=None)
