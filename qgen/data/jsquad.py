"""SQuAD-layout questions → seq2seq TSV rows for QA, answer-aware QG (AQG) and highlight QG (AQG-HL).

Each text (question, answer, context) is normalised on its own with `clean`, then put into the task's template; the
assembled source is not normalised again (neologdn would delete the template's spaces next to Japanese text, e.g.
`梅雨 <hl> 小笠原` → `梅雨<hl>小笠原`). Inference must build its inputs with `build_source` to match.

Highlighting: the raw context is cut at `answer_start` into before / answer / after, each piece is normalised separately
and the pieces joined as `before <hl> answer <hl> after`. So the marked span is the annotated occurrence (not the first
occurrence of the string) and is exactly `clean(answer)` — the same string the QA task uses as its target — even where
normalising the whole context would shift offsets or merge characters across the span's edges. Running it again on its
own (normalised) pieces gives the same text, because `clean` is idempotent.

Context window (`context_window="sentence"`, `--context-window sentence`): the context is first cut to the sentence(s)
holding the answer span, keeping the "TITLE [SEP]" prefix — sentence-level QG. Contexts get ~2.5× shorter (JSQuAD
valid: mean 74 vs 184 characters, title included), so a small model trains far faster per step and can learn to copy
from the source; questions needing facts from other sentences lose them. The default (`full`) keeps the paragraph.
"""

from __future__ import annotations

import dataclasses
import hashlib
import re
from collections.abc import Iterable

from qgen.core.constants import HL, QG_TASKS
from qgen.data.examples import Example
from qgen.data.question_window import question_window
from qgen.data.skips import Skips
from qgen.data.squad import SquadQuestion
from qgen.data.tsv import clean

_SEP_RE = re.compile(r"\[sep\]", re.IGNORECASE)
_ID_BREAKERS_RE = re.compile(r"[\t\n\r\x0b\x0c\x1c-\x1f\x85\u2028\u2029]")
TASKS = ("qa", "aqg", "aqg_hl")
CONTEXT_WINDOWS = ("full", "sentence", "question")
_SENTENCE_END = "。！？\n"  # a line break ends a sentence too (JaQuAD headings and lists have no 。)
QA_TEMPLATE = "question: {question} context: {context}"
AQG_TEMPLATE = "answer: {answer} context: {context}"


_QA_SOURCE_RE = re.compile(r"question: (?P<question>.+?) context: (?P<context>.+)", re.DOTALL)


def parse_qa_source(source: str) -> tuple[str, str]:
    """(question, context) of a QA source written with QA_TEMPLATE; ValueError for any other text."""
    m = _QA_SOURCE_RE.fullmatch(source)
    if not m:
        raise ValueError("not a QA source of the form 'question: … context: …'")
    return m["question"], m["context"]


def highlight(context: str, answer_start: int, answer: str, lang: str = "ja") -> str:
    """`context` with the span [answer_start, answer_start+len(answer)) wrapped as `<hl> answer <hl>`, normalised."""
    end = answer_start + len(answer)
    if answer_start < 0 or end > len(context) or context[answer_start:end] != answer:
        raise ValueError(f"answer {answer!r} is not at offset {answer_start} of the context")
    before, span, after = (clean(t, lang) for t in (context[:answer_start], answer, context[end:]))
    if not span:
        raise ValueError("the answer is empty after normalisation")
    return " ".join(p for p in (before, HL, span, HL, after) if p)


def build_source(task: str, *, context: str = "", question: str = "", answer: str = "",
                 answer_start: int | None = None, lang: str = "ja") -> str:
    """The model input for `task` from raw texts (normalised here): data preparation's and inference's one builder.

    aqg_hl without `answer_start` (interactive use: `qgen generate`) highlights the first occurrence of the answer in
    the raw context, or failing that in the normalised context (e.g. the answer typed in another width).
    """
    if task not in QG_TASKS:
        raise ValueError(f"cannot build a source for task {task!r} (expected aqg, aqg_hl or qa)")
    if task in ("aqg", "aqg_hl") and not answer.strip():
        raise ValueError(f"task {task} needs an answer")
    if task == "qa" and not question.strip():
        raise ValueError("task qa needs a question")
    if not context.strip():
        raise ValueError("a context is needed")
    if task == "qa":
        return QA_TEMPLATE.format(question=clean(question, lang), context=clean(context, lang))
    if task == "aqg":
        return AQG_TEMPLATE.format(answer=clean(answer, lang), context=clean(context, lang))
    if answer_start is None:
        answer_start = context.find(answer)
        if answer_start < 0:
            context, answer = clean(context, lang), clean(answer, lang)
            answer_start = context.find(answer)
        if answer_start < 0:
            raise ValueError(f"the answer {answer!r} does not occur in the context")
    elif context[answer_start:answer_start + len(answer)] != answer:
        raise ValueError(f"the answer {answer!r} is not at offset {answer_start} of the context")
    return highlight(context, answer_start, answer, lang)


def window_context(context: str, answer: str, answer_start: int, window: str) -> tuple[str, int]:
    """(context, answer_start) cut to `window` ("full": unchanged; "sentence": the answer's sentence(s), as
    `sentence_window` cuts them for training)."""
    if window not in ("full", "sentence"):
        raise ValueError(f"unknown context window {window!r}; expected full or sentence")
    if window == "full":
        return context, answer_start
    q = sentence_window(SquadQuestion("", "", answer, answer_start, context, "", ""))
    return q.context, q.answer_start


_HL_SOURCE_RE = re.compile(rf"(?:(?P<before>.*?) )?{HL} (?P<answer>.+?) {HL}(?: (?P<after>.*))?", re.DOTALL)
_AQG_SOURCE_RE = re.compile(r"answer: (?P<answer>.+?) context: (?P<context>.+)", re.DOTALL)


def window_source(task: str, source: str, window: str, lang: str = "ja") -> str:
    """A ready aqg / aqg_hl source (what `build_source` writes) with its context cut to `window`; any other task, a
    source of another form, or an answer not in its context comes back unchanged (there is no answer to locate).
    The cut is made on the normalised text, so `！？` written as `!?` by NFKC do not end a sentence here."""
    if window == "full" or task not in ("aqg", "aqg_hl"):
        return source
    if task == "aqg_hl":
        m = _HL_SOURCE_RE.fullmatch(source)
        if m is None:
            return source
        before, answer, after = m["before"] or "", m["answer"], m["after"] or ""
        context, start = window_context(before + answer + after, answer, len(before), window)
        return highlight(context, start, answer, lang)
    m = _AQG_SOURCE_RE.fullmatch(source)
    start = m["context"].find(m["answer"]) if m else -1
    if m is None or start < 0:
        return source
    context, _ = window_context(m["context"], m["answer"], start, window)
    return AQG_TEMPLATE.format(answer=m["answer"], context=context)


def sentence_window(q: SquadQuestion, neighbours: int = 0) -> SquadQuestion:
    """`q` with its context cut to "TITLE [SEP] " + the sentence(s) holding the answer span (answer_start shifted).

    Sentences end after 。！？ (the end mark stays with its sentence); an answer crossing a sentence end keeps all the
    sentences it touches. An answer in the title is first moved to its first occurrence in the body (`answer_in_body`);
    if it has none, the title stays the span and the body's first sentence is kept as the context.
    """
    m = _SEP_RE.search(q.context)
    body = len(q.context) - len(q.context[m.end():].lstrip()) if m else 0  # where "TITLE [SEP] " ends
    if q.answer_start < body:
        q = answer_in_body(q)
    ctx, start, end = q.context, q.answer_start, q.answer_start + len(q.answer)
    lo = max(start, body)  # the window's first sentence: the one holding the span's start (the body's first if in title)
    first = max((ctx.rfind(c, body, lo) for c in _SENTENCE_END), default=-1)
    first = body if first < 0 else first + 1
    ends = [i for i in (ctx.find(c, max(end - 1, body)) for c in _SENTENCE_END) if i >= 0]
    last = min(ends) + 1 if ends else len(ctx)
    for _ in range(neighbours):  # widen by one non-empty sentence on each side
        k = first
        while k > body and ctx[k - 1] in _SENTENCE_END:
            k -= 1
        if k > body:
            first = max(ctx.rfind(c, body, k) for c in _SENTENCE_END) + 1 or body
        j = last
        while j < len(ctx) and ctx[j] in _SENTENCE_END:
            j += 1
        if j < len(ctx):
            nxt = [i for i in (ctx.find(c, j) for c in _SENTENCE_END) if i >= 0]
            last = min(nxt) + 1 if nxt else len(ctx)
    if start < body:  # the span stays in the title: keep the prefix, then the body's first sentence
        return dataclasses.replace(q, context=ctx[:body] + ctx[body:last])
    prefix = ctx[:body]
    return dataclasses.replace(q, context=prefix + ctx[first:last], answer_start=len(prefix) + start - first)


def convert(questions: Iterable[SquadQuestion], task: str, lang: str = "ja", skips: Skips | None = None,
            context_window: str = "full", neighbours: int = 0, sentences: int = 2) -> list[Example]:
    """One Example per usable question; questions that normalise to something unusable are added to `skips`.

    `context_window="sentence"` cuts each context to the answer's sentence(s) first (`sentence_window`), widened by
    `neighbours` sentences on each side. `context_window="question"` (QA only) keeps the `sentences` sentences that
    share most with the question (`question_window`: what a reader sees at inference, where the answer is unknown).
    """
    if context_window not in CONTEXT_WINDOWS:
        raise ValueError(f"unknown context window {context_window!r}; expected one of {CONTEXT_WINDOWS}")
    if context_window == "question" and task != "qa":
        raise ValueError("the question window is for the qa task (the other tasks highlight or name the answer)")
    skips = Skips() if skips is None else skips
    out = []
    for q in questions:
        if context_window == "sentence":
            q = sentence_window(q, neighbours)
        elif context_window == "question":  # answer_start no longer applies: QA's target is the answer text
            q = dataclasses.replace(q, context=question_window(q.context, q.question, sentences), answer_start=-1)
        qid = q.id.strip()
        if _ID_BREAKERS_RE.search(qid):
            skips.add("id contains whitespace control characters", repr(q.id))
            continue
        question, answer = clean(q.question, lang), clean(q.answer, lang)
        if not question or not answer or not clean(q.context, lang):
            skips.add("empty text after normalisation", qid)
            continue
        if task == "aqg_hl" and HL in clean(q.context, lang).lower():
            skips.add(f"context already contains {HL}", qid)
            continue
        source = build_source(task, context=q.context, question=q.question, answer=q.answer,
                              answer_start=q.answer_start, lang=lang)
        target = answer if task == "qa" else question
        out.append(Example(qid, source, target))
    return out


def answer_in_body(q: SquadQuestion) -> SquadQuestion:
    """Move an answer whose answer_start lies in the "TITLE [SEP]" prefix to its first occurrence in the body, if any.

    JSQuAD's answer_start is the first occurrence of the answer in the whole "TITLE [SEP] body" context, so an answer
    equal to (part of) the title points at the title even when the annotator read it in the body. Opt-in
    (`--answer-in-body`): by default the annotated offset is kept.
    """
    m = _SEP_RE.search(q.context)
    if m is None or q.answer_start >= m.start():
        return q
    pos = q.context.find(q.answer, m.end())
    return q if pos < 0 else dataclasses.replace(q, answer_start=pos)


def holdout_split(questions: list[SquadQuestion], fraction: float, seed: int, lang: str = "ja"
                  ) -> tuple[list[SquadQuestion], list[SquadQuestion]]:
    """(train, dev) split by context: every question on one (normalised) context lands on the same side.

    Contexts are ranked by sha256(seed, context) and the first round(fraction × contexts) (at least 1, at most all but
    one) go to dev, so the split does not depend on file order, and a context keeps its side when others are added.
    """
    if not 0 < fraction < 1:
        raise ValueError("holdout fraction must be between 0 and 1 (exclusive)")
    key_of = {c: clean(c, lang) for c in {q.context for q in questions}}
    keys = sorted(set(key_of.values()))
    if len(keys) < 2:
        raise ValueError(f"cannot hold out part of {len(keys)} context(s); need at least 2")
    ranked = sorted(keys, key=lambda k: hashlib.sha256(f"{seed}\0{k}".encode()).hexdigest())
    n_dev = min(len(keys) - 1, max(1, round(fraction * len(keys))))
    dev_keys = set(ranked[:n_dev])
    train = [q for q in questions if key_of[q.context] not in dev_keys]
    dev = [q for q in questions if key_of[q.context] in dev_keys]
    return train, dev
