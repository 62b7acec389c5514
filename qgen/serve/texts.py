"""Text work of the server that needs no model: candidate answer spans with their offsets, the model input for a
marked answer, and quiz training records from accepted questions.

All of it is qgen's existing machinery (qgen.inference.answer_spans, qgen.data.jsquad, qgen.data.quiz) applied to a
pasted paragraph; offsets are into the text as pasted, so the page can mark them in its text box.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from qgen.data.jsquad import build_source, sentence_window
from qgen.data.quiz import Quiz, render, sample_choices
from qgen.data.squad import SquadQuestion
from qgen.data.tsv import clean
from qgen.inference.answer_spans import answer_spans

_SENTENCE_END = "。！？\n"
_SEP_RE = re.compile(r"\[sep\]", re.IGNORECASE)


@dataclass(frozen=True)
class Span:
    """A candidate answer and its offset in the context as pasted (so the page can mark it)."""

    text: str
    start: int  # offset in the pasted context


def sentences(context: str) -> list[tuple[int, str]]:
    """(offset, sentence) of each sentence of `context` (ends after 。！？ or a line break), blank ones left out."""
    out, start = [], 0
    for i, ch in enumerate(context):
        if ch in _SENTENCE_END:
            out.append((start, context[start:i + 1]))
            start = i + 1
    out.append((start, context[start:]))
    return [(at, s) for at, s in out if s.strip()]


def candidate_spans(context: str, max_words: int = 8) -> list[Span]:
    """The longest candidate answers of each sentence (a candidate inside a longer one of the same sentence is left
    out), each text once (its first occurrence), in reading order; one-character spans are dropped."""
    seen, out = set(), []
    for at, sentence in sentences(context):
        sep = [(m.start(), m.end()) for m in _SEP_RE.finditer(sentence)]  # JSQuAD's "TITLE [SEP] " marker
        spans = [(a, b) for a, b in answer_spans(sentence, max_words) if not any(a < d and c < b for c, d in sep)]
        for a, b in spans:
            if any(c <= a and b <= d and (c, d) != (a, b) for c, d in spans):
                continue
            text = sentence[a:b].strip()
            if len(text) < 2 or text in seen:
                continue
            seen.add(text)
            out.append(Span(text, at + sentence.index(text, a)))
    return sorted(out, key=lambda s: s.start)


def locate(context: str, answer: str, answer_start: int | None) -> int:
    """Where the marked answer starts: `answer_start` when the answer is there, else its first occurrence; ValueError
    when the context does not hold it."""
    if answer_start is not None:
        if context[answer_start:answer_start + len(answer)] != answer:
            raise ValueError(f"the context does not hold the answer at offset {answer_start}")
        return answer_start
    at = context.find(answer)
    if at < 0:
        raise ValueError("the answer does not occur in the context")
    return at


def question_source(task: str, context: str, answer: str, start: int, lang: str, window: str) -> str:
    """The model input for a question about context[start:start+len(answer)], as training built it; window
    "sentence" first cuts the context to the answer's sentence (how qgen-small-ja was trained)."""
    if window == "sentence":
        q = sentence_window(SquadQuestion("", "", answer, start, context, "", ""))
        context, start = q.context, q.answer_start
    return build_source(task, context=context, answer=answer, answer_start=start, lang=lang)


def same_answer(a: str, b: str, lang: str) -> bool:
    """The round-trip check: the reader's answer is the marked span (equal after qgen's normalisation)."""
    return bool(a) and clean(a, lang) == clean(b, lang)


def quiz_records(items: Sequence[Mapping[str, str]], num_choices: int, seed: int, lang: str = "ja"
                 ) -> tuple[list[dict[str, object]], list[dict[str, int | str]]]:
    """Train-style quiz records (qgen.data.quiz.render, the format `qgen prepare-quiz` writes) for accepted items
    {id, context, question, answer}; the wrong choices are other candidate answers of the same paragraph, sampled as
    prepare-quiz samples JAQKET's. Returns (records, skipped: [{index, reason}])."""
    records: list[dict[str, object]] = []
    skipped: list[dict[str, int | str]] = []
    for n, item in enumerate(items):
        qid = item.get("id") or f"serve-{n}"
        answer = clean(item["answer"], lang)
        others = [clean(s.text, lang) for s in candidate_spans(item["context"])]
        others = [o for o in others if o and o not in answer and answer not in o]
        sampled = sample_choices(answer, others, num_choices, seed, qid)
        if isinstance(sampled, str):
            skipped.append({"index": n, "reason": f"{sampled} in the paragraph"})
            continue
        choices, label = sampled
        records.append(render(Quiz(qid, clean(item["question"], lang), choices, label), "train"))
    return records, skipped
