"""The model work behind each endpoint, on qgen's own machinery, run in micro-batches off the event loop.

- questions: qgen.inference.generation.Generator on the source training built (qgen.data.jsquad.build_source);
  score = the model's mean log-probability per token of the question given that source (teacher-forced, the span
  reader's `logprobs`), so beams and samples are ranked alike; hallucinated = content words of the question that the
  paragraph lacks (qgen.evaluation.hallucination with QUESTION_STOP_WORDS, as `qgen eval`); round trip = the span
  reader (qgen.inference.span_reader) answering the question from the paragraph, consistent when that is the marked
  span (round-trip consistency, Alberti et al. 2019).
- suggested answers: the candidate spans of qgen.inference.answer_spans, ranked by the score of the greedy question
  the model writes for each.
- quiz: qgen.quiz.scoring.QuizScorer (choice-token probabilities, the train prompt), confidence and margin as
  qgen.evaluation.calibration gives them, the retrieval gate of qgen.quiz.retrieval.gate_fires.
Score and round trip need a seq2seq model (the reader's heads); with a causal one they are null.
"""

from __future__ import annotations

import asyncio
import dataclasses
import threading
from collections.abc import Callable, Hashable, Sequence
from dataclasses import dataclass
from typing import TypedDict, TypeVar

from qgen.core.errors import QgenInputError
from qgen.data.examples import Example
from qgen.data.tsv import clean
from qgen.evaluation.calibration import confidence
from qgen.evaluation.hallucination import QUESTION_STOP_WORDS, hallucination_details
from qgen.inference.decoding import GenerationSettings
from qgen.inference.generation import Generator
from qgen.inference.loader import InferenceModel, load_inference_model
from qgen.inference.span_reader import SpanAnswer, SpanReader
from qgen.quiz.pipeline import quiz_format
from qgen.quiz.prompt import QuizItem
from qgen.quiz.retrieval import gate_fires
from qgen.quiz.scoring import QuizScorer, Scored
from qgen.serve import schemas
from qgen.serve.batching import Batcher, BatchStats, MicroBatcher
from qgen.serve.errors import ApiError
from qgen.serve.registry import ModelEntry, Registry
from qgen.serve.settings import ServeSettings
from qgen.serve.texts import candidate_spans, locate, question_source, same_answer

QG_TASKS = ("aqg_hl", "aqg")  # tasks whose model writes questions
SUGGEST_SETTINGS = GenerationSettings(num_beams=1, max_new_tokens=32)  # one greedy question per candidate span
DEFAULT_BEAMS, DEFAULT_NEW_TOKENS = 4, 48  # a request's defaults, within the server's caps
MAX_CANDIDATES = 24  # candidate spans ranked per suggestion request

GenerateJob = tuple[str, GenerationSettings]  # (model input, decoding settings)
TextPair = tuple[str, str]  # (source, question) to score; (question, context) to read or check
T = TypeVar("T")
R = TypeVar("R")


class RankedAnswer(TypedDict):
    """A candidate answer with the greedy question the model writes for it (a row of /v1/suggest)."""

    text: str
    start: int
    end: int
    question: str
    score: float | None


@dataclass
class LoadedModel:
    """One model and a batcher per task it serves (one queue and worker thread each, one lock between them), so that
    concurrent requests share model calls. Score and read need a seq2seq model's span reader, quiz a causal model."""

    entry: ModelEntry
    im: InferenceModel
    generating: MicroBatcher[GenerateJob, list[str]]
    scoring: MicroBatcher[TextPair, float] | None  # seq2seq only
    reading: MicroBatcher[TextPair, SpanAnswer] | None  # seq2seq only
    quizzing: MicroBatcher[QuizItem, Scored] | None  # causal only

    def batchers(self) -> dict[str, Batcher]:
        """The batchers by task name (the keys of /healthz's batching stats)."""
        tasks: dict[str, Batcher | None] = {"generate": self.generating, "score": self.scoring, "read": self.reading,
                                            "quiz": self.quizzing}
        return {task: b for task, b in tasks.items() if b is not None}

    def close(self) -> None:
        """Stop the batchers' worker threads."""
        for b in self.batchers().values():
            b.close()


# ---- batch functions (worker threads) -------------------------------------------------------------------------------
def _generate(generator: Generator, jobs: list[GenerateJob]) -> list[list[str]]:
    """Candidates for each (source, settings); sources are encoded here, under the model's lock (the tokenizer
    is the model's too)."""
    settings = jobs[0][1]  # the batcher groups jobs by settings
    ids = [generator.encode(Example("serve", source, ""), settings.max_new_tokens) for source, _ in jobs]
    cands = generator.generate_ids(ids, settings)
    return [[generator.decode(ids) for ids in c] for c in cands]


def _score(reader: SpanReader, jobs: list[TextPair]) -> list[float]:
    """Mean log-probability per token of each (source, question)."""
    sources = [reader.encode(s) for s, _ in jobs]
    targets = [reader.encode(q, target=True) for _, q in jobs]
    sums = reader.logprobs(sources, targets)
    return [s / max(1, len(t)) for s, t in zip(sums, targets)]


def _settings_key(job: GenerateJob) -> Hashable:
    return dataclasses.astuple(job[1])


class Engine:
    """The model work behind the API's endpoints (see the module's docstring), shared by all requests."""

    def __init__(self, registry: Registry, settings: ServeSettings) -> None:
        self.registry, self.settings = registry, settings
        wait = settings.batch_wait_ms / 1000
        self.ginza: MicroBatcher[TextPair, list[str]] = MicroBatcher(self._hallucinated, max_batch=64, max_wait_s=wait,
                                                                     name="hallucination")

    def close(self) -> None:
        """Stop every batcher's worker thread (the server is shutting down)."""
        self.ginza.close()
        for e in self.registry.entries.values():
            if e.loaded is not None:
                e.loaded.close()

    def warm(self) -> None:
        """Load the analysers the first request would otherwise wait for (GiNZA's tokenizer, MeCab)."""
        self._hallucinated([("東京はどこ?", "東京")])
        candidate_spans("東京は日本の首都である。")

    def stats(self) -> dict[str, dict[str, float]]:
        """Each batcher's stats (GET /healthz): how far requests have been batched."""
        stats: dict[str, BatchStats] = {"hallucination": self.ginza.stats}
        for e in self.registry.entries.values():
            if e.loaded is not None:
                stats.update({f"{e.name}/{t}": b.stats for t, b in e.loaded.batchers().items()})
        return {name: s.as_dict() for name, s in stats.items()}

    # ---- models -----------------------------------------------------------------------------------------------------
    def entry(self, name: str | None) -> ModelEntry:
        """The registry's entry of `name` (None: the default); 404 for a name it does not offer."""
        try:
            return self.registry.get(name)
        except KeyError:
            raise ApiError(404, "model", f"unknown model {name!r}; GET /v1/models lists them") from None

    def load_now(self, entry: ModelEntry) -> LoadedModel:
        """Load (once) in the calling thread."""
        with entry.lock:
            if entry.loaded is None:
                entry.loaded = self._load(entry)
        return entry.loaded

    async def load(self, entry: ModelEntry) -> LoadedModel:
        """Load (once) off the event loop; 503 for a checkpoint that cannot be loaded."""
        if entry.loaded is not None:
            return entry.loaded
        try:
            return await asyncio.to_thread(self.load_now, entry)
        except QgenInputError as e:
            raise ApiError(503, "model", f"cannot load {entry.name}: {e}") from None

    def _load(self, entry: ModelEntry) -> LoadedModel:
        im = load_inference_model(str(entry.path), device=self.settings.device)
        reader = SpanReader(im) if im.kind == "seq2seq" else None
        scorer = None
        if im.kind == "causal":
            causal_format, max_len = quiz_format(im)
            scorer = QuizScorer(im.model, im.tokenizer, causal_format, "choice-token", max_len=max_len,
                                batch_size=self.settings.max_batch)
        generator = Generator(im)
        s, wait = self.settings, self.settings.batch_wait_ms / 1000
        lock = threading.Lock()  # one model call at a time: its batchers collect apart, run in turn

        def batcher(task: str, fn: Callable[[list[T]], list[R]],
                    key: Callable[[T], Hashable] = lambda job: None) -> MicroBatcher[T, R]:
            """One of this model's batchers: the server's batch size and wait, the model's lock."""
            return MicroBatcher(fn, max_batch=s.max_batch, max_wait_s=wait, key=key, name=f"{entry.name}/{task}",
                                lock=lock)

        generating = batcher("generate", lambda jobs: _generate(generator, jobs), _settings_key)
        scoring: MicroBatcher[TextPair, float] | None = None
        reading: MicroBatcher[TextPair, SpanAnswer] | None = None
        if reader is not None:
            scoring = batcher("score", lambda jobs: _score(reader, jobs))
            reading = batcher("read", reader.answer_many)
        quizzing = None if scorer is None else batcher("quiz", scorer.score)
        return LoadedModel(entry, im, generating, scoring, reading, quizzing)

    async def _submit(self, batcher: MicroBatcher[T, R], item: T) -> R:
        try:
            return await batcher.submit(item, self.settings.timeout_s)
        except asyncio.TimeoutError:
            raise ApiError(503, None, f"timed out after {self.settings.timeout_s:g} s waiting for the model "
                                      "(the server is busy; try again)") from None

    @staticmethod
    def _hallucinated(jobs: list[TextPair]) -> list[list[str]]:
        found = hallucination_details([q for q, _ in jobs], [c for _, c in jobs], QUESTION_STOP_WORDS, workers=1)
        return [sorted(words) for words, _ in found]

    # ---- endpoints --------------------------------------------------------------------------------------------------
    async def questions(self, req: schemas.QuestionsRequest) -> dict[str, object]:
        """POST /v1/questions: questions about the marked answer, or about the best suggested answers."""
        marked = None  # (answer, its offset in the context)
        if req.answer is not None:
            try:
                marked = (req.answer, locate(req.context, req.answer, req.answer_start))
            except ValueError as e:
                raise ApiError(422, "answer", str(e)) from None
        entry = self.entry(req.model)
        if entry.task not in QG_TASKS:
            raise ApiError(422, "model", f"{entry.name} is trained for {entry.task}, not for writing questions "
                                         f"({' or '.join(QG_TASKS)})")
        settings = self.generation_settings(req)
        lm = await self.load(entry)
        if marked is not None:
            answers = [marked]
        else:  # the best suggested answers, one question each
            ranked = await self._ranked(lm, req.context, req.window, req.num_questions)
            answers = [(r["text"], r["start"]) for r in ranked]
            settings = dataclasses.replace(settings, num_return_sequences=1)
        per_answer = await asyncio.gather(*(self._questions_for(lm, req, a, s, settings) for a, s in answers))
        return {"model": entry.name, "questions": [q for qs in per_answer for q in qs]}

    def generation_settings(self, req: schemas.QuestionsRequest) -> GenerationSettings:
        """The request's decoding settings, its defaults filled in (on `req` too); 422 past the server's caps."""
        s = self.settings
        if req.num_beams is None:
            req.num_beams = min(DEFAULT_BEAMS, s.max_beams)
        if req.max_new_tokens is None:
            req.max_new_tokens = min(DEFAULT_NEW_TOKENS, s.max_new_tokens)
        for name, value, cap in (("num_questions", req.num_questions, s.max_questions),
                                 ("num_beams", req.num_beams, s.max_beams),
                                 ("max_new_tokens", req.max_new_tokens, s.max_new_tokens)):
            if value > cap:
                raise ApiError(422, name, f"at most {cap} (this server's limit)")
        sample = req.mode == "sample"
        try:
            return GenerationSettings(
                num_beams=1 if sample else max(req.num_beams, req.num_questions),
                num_return_sequences=req.num_questions, max_new_tokens=req.max_new_tokens, do_sample=sample,
                temperature=req.temperature, top_p=req.top_p, top_k=req.top_k, seed=req.seed,
                no_repeat_ngram_size=req.no_repeat_ngram_size)
        except ValueError as e:
            raise ApiError(422, "num_beams", str(e)) from None

    async def _questions_for(self, lm: LoadedModel, req: schemas.QuestionsRequest, answer: str, start: int,
                             settings: GenerationSettings) -> list[dict[str, object]]:
        lang = lm.im.lang
        try:
            source = question_source(lm.im.task, req.context, answer, start, lang, req.window)
        except ValueError as e:
            raise ApiError(422, "answer", str(e)) from None
        texts = await self._submit(lm.generating, (source, settings))
        texts = list(dict.fromkeys(t for t in texts if t.strip()))  # beams may repeat after decoding
        context = clean(req.context, lang)
        out = await asyncio.gather(*(self._check(lm, source, context, t, answer, req.roundtrip) for t in texts))
        return [{"question": t, "answer": answer, "answer_start": start, **o} for t, o in zip(texts, out)]

    async def _check(self, lm: LoadedModel, source: str, context: str, question: str, answer: str,
                     roundtrip: bool) -> dict[str, object]:
        """Score, hallucinated words and (when asked) the round trip of one question."""
        lang = lm.im.lang
        halluc = self._submit(self.ginza, (question, context))
        if lm.scoring is None or lm.reading is None:
            return {"score": None, "hallucinated": await halluc, "roundtrip_answer": None, "roundtrip_score": None,
                    "consistent": None}
        scored = self._submit(lm.scoring, (source, question))
        if not roundtrip:
            score, words = await asyncio.gather(scored, halluc)
            return {"score": round(score, 4), "hallucinated": words, "roundtrip_answer": None,
                    "roundtrip_score": None, "consistent": None}
        score, read, words = await asyncio.gather(
            scored, self._submit(lm.reading, (clean(question, lang), context)), halluc)
        return {"score": round(score, 4), "hallucinated": words, "roundtrip_answer": read.text,
                "roundtrip_score": round(read.score, 4) if read.text else None,
                "consistent": same_answer(read.text, answer, lang)}

    async def _ranked(self, lm: LoadedModel, context: str, window: str, limit: int) -> list[RankedAnswer]:
        """Candidate answers ranked by the score of the greedy question the model writes for each."""
        spans = candidate_spans(context)[:MAX_CANDIDATES]
        if not spans:
            raise ApiError(422, "context", "no candidate answer (noun phrase, number or quotation) in the context")
        sources = [question_source(lm.im.task, context, s.text, s.start, lm.im.lang, window) for s in spans]
        batcher = lm.generating
        texts = await asyncio.gather(*(self._submit(batcher, (src, SUGGEST_SETTINGS)) for src in sources))
        questions = [t[0] if t else "" for t in texts]
        scores: Sequence[float | None]
        if lm.scoring is None:
            scores = [None] * len(spans)
        else:
            scoring = lm.scoring
            scores = await asyncio.gather(*(self._submit(scoring, (src, q)) for src, q in zip(sources, questions)))
        rows = [RankedAnswer(text=s.text, start=s.start, end=s.start + len(s.text), question=q,
                             score=None if sc is None else round(sc, 4)) for s, q, sc in zip(spans, questions, scores)]
        rows.sort(key=lambda r: -(r["score"] if r["score"] is not None else 0.0))
        return rows[:limit]

    async def suggest(self, req: schemas.SuggestRequest) -> dict[str, object]:
        """POST /v1/suggest: the context's candidate answers, best first."""
        entry = self.entry(req.model)
        if entry.task not in QG_TASKS:
            raise ApiError(422, "model", f"{entry.name} is trained for {entry.task}; suggestions need a question "
                                         "generator")
        lm = await self.load(entry)
        return {"model": entry.name, "answers": await self._ranked(lm, req.context, req.window, req.limit)}

    async def answer(self, req: schemas.AnswersRequest) -> dict[str, object]:
        """POST /v1/answers: the span reader's answer to the question."""
        entry = self.entry(req.model)
        if entry.kind != "seq2seq":
            raise ApiError(422, "model", f"{entry.name} is a causal model; the span reader needs a seq2seq one")
        lm = await self.load(entry)
        if lm.reading is None:  # entry.kind and the loaded model's kind come from the same config.json
            raise ApiError(422, "model", f"{entry.name} has no span reader (not a seq2seq model)")
        lang = lm.im.lang
        context = clean(req.context, lang)
        read = await self._submit(lm.reading, (clean(req.question, lang), context))
        if not read.text:
            raise ApiError(422, "context", "the context has no candidate answer span for this question")
        return {"model": entry.name, "answer": read.text, "score": round(read.score, 4),
                "start": context.find(read.text), "context": context}

    async def quiz(self, req: schemas.QuizRequest) -> dict[str, object]:
        """POST /v1/quiz: the choices' probabilities, the confidence and the retrieval gate."""
        entry = self.entry(req.model) if req.model is not None else self._first_causal()
        if entry.kind != "causal":
            raise ApiError(422, "model", f"{entry.name} is a {entry.kind} model; quiz scoring needs a causal one")
        if len(req.choices) > self.settings.max_choices:
            raise ApiError(422, "choices", f"at most {self.settings.max_choices} choices")
        lm = await self.load(entry)
        if lm.quizzing is None:  # as in answer(): the entry's kind is the loaded model's
            raise ApiError(422, "model", f"{entry.name} has no quiz scorer (not a causal model)")
        labels = [str(i) for i in range(len(req.choices))]
        item = QuizItem("serve", "", "", list(req.choices), labels, None, req.question)
        scored = await self._submit(lm.quizzing, item)
        assert scored.pred is not None, "choice-token scoring always predicts a choice (None is the generate method's)"
        top1, margin = (float(x[0]) for x in confidence([scored.probs]))
        return {"model": entry.name, "probabilities": [round(p, 6) for p in scored.probs], "pred": scored.pred,
                "answer": req.choices[scored.pred], "confidence": round(top1, 6), "margin": round(margin, 6),
                "gate": {"fires": gate_fires(top1, margin, req.gate_top1, req.gate_margin),
                         "top1_below": req.gate_top1, "margin_below": req.gate_margin}}

    def _first_causal(self) -> ModelEntry:
        default = self.registry.get(None)
        if default.kind == "causal":
            return default
        for e in self.registry.entries.values():
            if e.kind == "causal":
                return e
        raise ApiError(422, "model", "no causal model is offered: quiz scoring needs one (start the server with "
                                     "--models DIR holding a quiz checkpoint)")
