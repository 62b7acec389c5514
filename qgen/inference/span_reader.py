"""Extractive QA with a seq2seq question generator: choose the paragraph span the model explains best.

A small generative reader answers with label priors (qgen-small-ja's greedy QA: char-F1 0.09 on JaQuAD dev). This
reader generates nothing. It cuts the paragraph to the sentences most like the question (qgen.data.question_window),
takes their candidate spans (qgen.inference.answer_spans; in a choice question, `AとBのうち…`, only the options it
names; for a question asking for a number only spans holding one, and the reverse) and scores each as

    log P(span | "question: Q context: W")                            the model's QA head, read as a scorer
    + question_weight  · log P(Q | the span's sentence, span in <hl>)  its question generator, read backwards
    - proximity_weight · log(1 + characters from the span to the question's words in its sentence)
    + length_weight    · log(characters in the span)

The second term asks the AQG-HL head whether this answer would make it write this question — answering by question
likelihood (Lewis & Fan 2019, "Generative question answering"), which uses the task the model is best at. The last
two are the cues of sliding-window readers: the answer stands near the words it shares with the question, and the
QA head's sum of token log probabilities would otherwise prefer short spans. Only the `shortlist` spans best by the
other terms get the question term (one encoder pass per span). The weights are chosen on held-out JaQuAD train
questions (configs/qgen-small-ja/NOTES.md); with question_weight 0 the reader needs only a QA head (a model trained
on QA only).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import NamedTuple

import torch

from qgen.data.jsquad import QA_TEMPLATE, highlight
from qgen.data.question_window import question_window, split_sentences, split_title_prefix
from qgen.inference.answer_spans import (
    answer_spans,
    asks_for_number,
    distance_to_question,
    excluded_by_question,
    holds_number,
    is_choice_question,
    is_option,
)
from qgen.inference.decoding import SpanSettings  # no torch there: predict.py --help stays fast
from qgen.inference.loader import InferenceModel
from qgen.models.padding import pad_rows


class _Span(NamedTuple):
    text: str
    sentence: str  # the span's sentence, with the window's title prefix
    start: int  # the span's offset in `sentence`


@dataclass
class SpanAnswer:
    """One candidate answer span with the terms of its score."""

    text: str  # "" when the sentences hold no candidate
    score: float = float("-inf")
    answer_logprob: float = float("-inf")  # log P(span | question, sentences)
    question_logprob: float | None = None  # log P(question | span highlighted); None when not scored
    cue_score: float = 0.0  # the proximity and length terms, weighted
    distance: int | None = None  # characters to the nearest of the question's bigrams in the sentence (None: none)
    span: _Span | None = field(default=None, repr=False)  # where it was read


def cue_terms(distance: int | None, sentence: str, span: str) -> tuple[float, float]:
    """The unweighted cue terms of a span: -log(1 + characters to the question's words; the sentence's length when it
    shares none) and log(characters in the span)."""
    return -math.log1p(len(sentence) if distance is None else distance), math.log(len(span))


class SpanReader:
    """Answer questions over paragraphs with one loaded seq2seq checkpoint (trained on qa, and on aqg_hl for the
    question term)."""

    def __init__(self, im: InferenceModel, settings: SpanSettings | None = None, batch_size: int = 64):
        if im.kind != "seq2seq":
            raise ValueError("the span reader needs a seq2seq (T5-style) checkpoint")
        self.im, self.settings, self.batch_size = im, settings or SpanSettings(), batch_size
        self.tok = im.tokenizer

    def encode(self, text: str, target: bool = False) -> list[int]:
        """Source (or, `target`, question) ids cut to the checkpoint's saved lengths, as training cut them."""
        if target:
            return self.tok(text_target=text, truncation=True, max_length=self.im.spec.max_target_len)["input_ids"]
        return self.tok(text, truncation=True, max_length=self.im.spec.max_source_len)["input_ids"]

    @torch.no_grad()
    def logprobs(self, sources: list[list[int]], targets: list[list[int]]) -> list[float]:
        """Sum of log P(target token) given its source, per (source, target) pair, in batches. One source for all
        targets (the QA term) is encoded once and its encoder states shared by every row."""
        dev, out = self.im.device, []
        shared = None
        if len(sources) > 1 and all(s == sources[0] for s in sources):
            ids, mask = pad_rows(sources[:1], self.tok.pad_token_id)
            shared = (self.im.model.get_encoder()(input_ids=ids.to(dev), attention_mask=mask.to(dev)), mask.to(dev))
        for i in range(0, len(sources), self.batch_size):
            labels = pad_rows(targets[i:i + self.batch_size], -100)[0].to(dev)
            if shared is None:
                input_ids, mask = pad_rows(sources[i:i + self.batch_size], self.tok.pad_token_id)
                kw = {"input_ids": input_ids.to(dev), "attention_mask": mask.to(dev)}
            else:
                (enc, mask), n = shared, len(labels)
                kw = {"encoder_outputs": (enc.last_hidden_state.expand(n, -1, -1),), "attention_mask": mask.expand(n, -1)}
            logits = self.im.model(**kw, labels=labels).logits.float()
            lp = torch.log_softmax(logits, -1).gather(-1, labels.clamp(min=0).unsqueeze(-1)).squeeze(-1)
            out += (lp * (labels != -100)).sum(-1).tolist()
        return out

    def answer(self, question: str, context: str) -> SpanAnswer:
        """The best span of `context` for `question` (both normalised as data preparation writes them)."""
        return self.answer_many([(question, context)])[0]

    def answer_many(self, pairs: list[tuple[str, str]]) -> list[SpanAnswer]:
        """`answer` for many (question, context) pairs, their question terms scored as one batch (`qgen serve`)."""
        return [max(found, key=lambda a: a.score, default=SpanAnswer("")) for found in self.scored_many(pairs)]

    def scored(self, question: str, context: str) -> list[SpanAnswer]:
        """The `shortlist` best candidate spans with every term (all candidates, without the question term, when
        question_weight is 0)."""
        return self.scored_many([(question, context)])[0]

    def scored_many(self, pairs: list[tuple[str, str]]) -> list[list[SpanAnswer]]:
        """`scored` for each pair; the question terms of all the pairs' shortlists run through the model together
        (one encoder pass per span either way; together the batches are fuller)."""
        s = self.settings
        ranked = [self._ranked(question, context) for question, context in pairs]
        if not s.question_weight:
            return ranked
        shorts = [r[: s.shortlist] for r in ranked]
        owners, sources, targets = [], [], []
        for (question, _), short in zip(pairs, shorts):
            q_ids = self.encode(question, True)
            for a in short:
                assert a.span is not None  # a ranked answer keeps the span it was read from
                owners.append(a)
                sources.append(self.encode(highlight(a.span.sentence, a.span.start, a.text, self.im.lang)))
                targets.append(q_ids)
        for a, q in zip(owners, self.logprobs(sources, targets) if owners else []):
            a.question_logprob, a.score = q, a.score + s.question_weight * q
        return shorts

    def _ranked(self, question: str, context: str) -> list[SpanAnswer]:
        """Every candidate span of the question's window scored by the QA head and the cues, best first."""
        s = self.settings
        window = question_window(context, question, s.sentences)
        spans = self._candidates(question, window)
        if not spans:
            return []
        texts = sorted({x.text for x in spans})
        qa_source = self.encode(QA_TEMPLATE.format(question=question, context=window))
        qa = dict(zip(texts, self.logprobs([qa_source] * len(texts), [self.encode(t, True) for t in texts])))
        best: dict[str, SpanAnswer] = {}  # one answer per text: where its cues score best
        for x in spans:
            gap = distance_to_question(x.sentence, x.start, x.start + len(x.text), question)
            near, length = cue_terms(gap, x.sentence, x.text)
            cues = s.proximity_weight * near + s.length_weight * length
            if x.text not in best or cues > best[x.text].cue_score:
                best[x.text] = SpanAnswer(x.text, qa[x.text] + cues, qa[x.text], None, cues, gap, x)
        return sorted(best.values(), key=lambda a: -a.score)

    def _candidates(self, question: str, window: str) -> list[_Span]:
        """The window's candidate spans, narrowed to the options a choice question names, else without those the
        question names, then (unless ignore_answer_type) to those of the asked type where there are any."""
        s = self.settings
        prefix, body = split_title_prefix(window)
        spans = [_Span(sentence[a:b], prefix + sentence, len(prefix) + a)
                 for sentence in split_sentences(body) for a, b in answer_spans(sentence, s.max_words)]
        named = [x for x in spans if is_option(x.text, question)] if is_choice_question(question) else []
        if len({x.text for x in named}) >= 2:  # "A と B のうち…": the answer is one of the named options
            spans = named
        else:
            spans = [x for x in spans if not excluded_by_question(x.text, question)]
        if not s.ignore_answer_type:
            wants_number = asks_for_number(question)
            typed = [x for x in spans if holds_number(x.text) == wants_number]
            spans = typed or spans
        return spans
