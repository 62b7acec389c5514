"""Cut a paragraph to the sentences that share most with the question: reading comprehension for a small model.

A reader trained from scratch finds an answer in one sentence far more often than in a whole paragraph (qgen-small-ja
on JaQuAD dev: char-F1 0.17 on the answer's sentence vs 0.09 on the paragraph), but at inference the answer's
sentence is unknown. This picks sentences with the question alone, the way a retrieve-then-read system does: each
sentence is scored by the character bigrams it shares with the question, each weighted by log(1 + n / df) where df
counts the paragraph's sentences holding the bigram (so words the question shares with every sentence count little).
Character bigrams need no tokenizer and suit Japanese and Korean alike. The `sentences` best are kept in paragraph
order after the "TITLE [SEP]" prefix. On JaQuAD dev the two best sentences hold the answer for 90.0% of the
questions (one sentence: 74.9%) at 139 instead of 372 characters.
"""

from __future__ import annotations

import math
import re

_SEP_RE = re.compile(r"\[sep\]", re.IGNORECASE)
_SENTENCE_RE = re.compile(r"[^。！？\n]*(?:[。！？]+|\n|$)")  # a sentence keeps its end marks; a line break ends one too


def split_sentences(text: str) -> list[str]:
    """`text` cut after 。！？ and at line breaks; pieces keep their end marks and join back to `text`."""
    return [s for s in _SENTENCE_RE.findall(text) if s]


def _bigrams(text: str) -> set[str]:
    return {text[i:i + 2] for i in range(len(text) - 1)}


def split_title_prefix(context: str) -> tuple[str, str]:
    """("TITLE [SEP] ", body) of a JSQuAD-style context; ("", context) when it has no [SEP]."""
    m = _SEP_RE.search(context)
    cut = len(context) - len(context[m.end():].lstrip()) if m else 0  # where "TITLE [SEP] " ends
    return context[:cut], context[cut:]


def question_window(context: str, question: str, sentences: int = 2) -> str:
    """The "TITLE [SEP] " prefix of `context` (if any) + its `sentences` sentences most like `question`, in order.

    Ties go to the earlier sentence. A paragraph of at most `sentences` sentences is returned whole.
    """
    if sentences < 1:
        raise ValueError("sentences must be at least 1")
    prefix, body = split_title_prefix(context)
    pieces = [s for s in split_sentences(body) if s.strip()]
    if len(pieces) <= sentences:
        return context
    grams = [_bigrams(s) for s in pieces]
    df: dict[str, int] = {}
    for g in grams:
        for b in g:
            df[b] = df.get(b, 0) + 1
    asked = _bigrams(question)
    score = [sum(math.log(1 + len(pieces) / df[b]) for b in asked & g) for g in grams]
    keep = sorted(sorted(range(len(pieces)), key=lambda i: (-score[i], i))[:sentences])
    return prefix + "".join(pieces[i] for i in keep)
