"""Candidate answers of a Japanese sentence: its noun phrases, quoted titles and numbers with their counters.

A reader that picks a span of the paragraph cannot answer with a label prior (`1年`) or a half-copied phrase, which is
what a small generative reader does (qgen-small-ja's greedy QA). Answers of extractive QA sets are mostly noun phrases:
a candidate is a run of up to `max_words` MeCab words (unidic-lite) that are nouns, adjectival nouns, prefixes, suffixes, numerals or a
joining mark (・ー-), starting on neither a suffix nor ending on a prefix; a 「…」 or 『…』 quotation (with and without
its brackets) and a run followed by a short parenthesised note (`天皇賞(春)`) are candidates too. On 200 JaQuAD-train
held-out questions the gold answer is one of the candidates of the paragraph's answer sentence for ~80% of questions.

A candidate the question already names (`年` for `何年`, `面積` for `…の面積は`) is not an answer to it: spans that
occur in the question, or whose nouns all do, are dropped (`excluded_by_question`).
"""

from __future__ import annotations

import re
from functools import lru_cache

_JOINERS = set("・ー-")
_PHRASE_POS = ("名詞", "接頭辞", "接尾辞", "形状詞")  # unidic: 形状詞 is an adjectival noun (高等 of 高等小学校)
_QUOTED_RE = re.compile(r"「[^」]{1,40}」|『[^』]{1,40}』")
_BRACKETS = ("「」", "『』", "()")


@lru_cache(maxsize=1)
def _tagger():
    import fugashi  # MeCab (unidic-lite): loaded on the first sentence

    return fugashi.Tagger()


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
    """True when the question already names `span` (it occurs in the question, or every noun of it does)."""
    if span in question:
        return True
    nouns = [span[a:b] for a, b, pos1, _ in _words(span) if pos1 == "名詞"]
    return bool(nouns) and all(n in question for n in nouns)
