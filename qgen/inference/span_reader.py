"""Extractive QA with a seq2seq question generator: choose the paragraph span the model explains best.

A small generative reader answers with label priors (qgen-small-ja's greedy QA: char-F1 0.09 on JaQuAD dev). This
reader generates nothing. It cuts the paragraph to the sentences most like the question (qgen.data.question_window),
takes their candidate spans (qgen.inference.answer_spans; in a choice question, `AとBのうち…`, only the options it
names) and scores each as

    log P(span | "question: Q context: W")  +  question_weight · log P(Q | the span's sentence, span in <hl> marks)

The first term is the model's QA head read as a scorer (it knows answer types: `何年` wants a year); the second asks
the AQG-HL head whether this answer would make it write this question — answering by question likelihood (Lewis &
Fan 2019, "Generative question answering"), which uses the task the model is best at. Only the `shortlist` spans the
QA term ranks highest are scored by the second term (one encoder pass per span). Sums, not means, of token log
probabilities: the question is the same for every span, and a span's length is part of what the QA head predicts.
The weight is chosen on held-out JaQuAD train questions (configs/qgen-small-ja/NOTES.md); with 0 the reader is the
QA head alone, restricted to spans — the setting for a model trained on QA only.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch

from qgen.data.jsquad import QA_TEMPLATE, highlight
from qgen.data.question_window import question_window, split_sentences, split_title_prefix
from qgen.inference.answer_spans import answer_spans, excluded_by_question, is_choice_question, is_option
from qgen.inference.decoding import SpanSettings  # no torch there: predict.py --help stays fast
from qgen.inference.loader import InferenceModel
from qgen.models.padding import pad_rows


@dataclass
class SpanAnswer:
    text: str  # "" when the sentences hold no candidate
    score: float = float("-inf")
    answer_logprob: float = float("-inf")  # log P(span | question, sentences)
    question_logprob: float | None = None  # log P(question | span highlighted); None when not scored


class SpanReader:
    """Answer questions over paragraphs with one loaded seq2seq checkpoint (trained on qa, and on aqg_hl for the
    question term)."""

    def __init__(self, im: InferenceModel, settings: SpanSettings | None = None, batch_size: int = 64):
        if im.kind != "seq2seq":
            raise ValueError("the span reader needs a seq2seq (T5-style) checkpoint")
        self.im, self.settings, self.batch_size = im, settings or SpanSettings(), batch_size
        self.tok = im.tokenizer

    def _ids(self, text: str, target: bool = False) -> list[int]:
        if target:
            return self.tok(text_target=text, truncation=True, max_length=self.im.adapter.max_target_len)["input_ids"]
        return self.tok(text, truncation=True, max_length=self.im.adapter.max_source_len)["input_ids"]

    @torch.no_grad()
    def _logprobs(self, sources: list[list[int]], targets: list[list[int]]) -> list[float]:
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
        return max(self.scored(question, context), key=lambda a: a.score, default=SpanAnswer(""))

    def scored(self, question: str, context: str) -> list[SpanAnswer]:
        """Every candidate span with its QA term; the `shortlist` best of them also with the question term (and
        only those are returned when question_weight > 0)."""
        s = self.settings
        window = question_window(context, question, s.sentences)
        prefix, body = split_title_prefix(window)
        spans = []  # (text, the sentence with the title prefix, the span's offset in it)
        for sentence in split_sentences(body):
            spans += [(sentence[a:b], prefix + sentence, len(prefix) + a) for a, b in answer_spans(sentence, s.max_words)]
        named = [x for x in spans if is_option(x[0], question)] if is_choice_question(question) else []
        if named:  # "A と B のうち…": the answer is one of the named options
            spans = named
        else:
            spans = [x for x in spans if not excluded_by_question(x[0], question)]
        if not spans:
            return []
        texts = sorted({t for t, _, _ in spans})
        qa_source = self._ids(QA_TEMPLATE.format(question=question, context=window))
        qa = dict(zip(texts, self._logprobs([qa_source] * len(texts), [self._ids(t, True) for t in texts])))
        if s.question_weight == 0:
            return [SpanAnswer(t, qa[t], qa[t]) for t in texts]
        short = sorted(spans, key=lambda x: -qa[x[0]])[: s.shortlist]
        q_ids = self._ids(question, True)
        sources = [self._ids(highlight(sent, start, text, self.im.lang)) for text, sent, start in short]
        qlik = self._logprobs(sources, [q_ids] * len(sources))
        return [SpanAnswer(t, qa[t] + s.question_weight * q, qa[t], q) for (t, _, _), q in zip(short, qlik)]
