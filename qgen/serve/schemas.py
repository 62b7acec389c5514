"""Request and response bodies of the API (pydantic: they are the OpenAPI schema at /docs and /openapi.json).

Unknown fields are refused (a misspelt `num_question` is a 422 naming it, not silently ignored). Ranges here are the
API's own; the server's caps (`ServeSettings`: questions, beams, tokens, text lengths) are checked by the engine and
the app, so one server can be started with tighter ones.
"""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field


class _Request(BaseModel):
    """Requests refuse unknown fields: a misspelt one is a 422 naming it, not a silently ignored field."""

    model_config = ConfigDict(extra="forbid")


class QuestionsRequest(_Request):
    """POST /v1/questions: the paragraph, the answer to ask about (or none: the best candidates) and decoding."""

    context: str = Field(min_length=1, description="the paragraph")
    answer: str | None = Field(None, min_length=1, description="the answer span; left out: the best candidate "
                                                              "answers are chosen, one question each")
    answer_start: int | None = Field(None, ge=0, description="offset of the answer in the context (default: its "
                                                             "first occurrence)")
    model: str | None = Field(None, description="a name from GET /v1/models (default: the server's)")
    num_questions: int = Field(3, ge=1, le=64)
    mode: Literal["beam", "sample"] = "beam"
    num_beams: int | None = Field(None, ge=1, le=64, description="beam width (default 4, or the server's cap)")
    temperature: float = Field(1.0, gt=0, le=5)
    top_p: float = Field(1.0, gt=0, le=1)
    top_k: int = Field(50, ge=0, le=10_000)
    max_new_tokens: int | None = Field(None, ge=1, le=1024, description="default 48, or the server's cap")
    no_repeat_ngram_size: int = Field(3, ge=0, le=16)
    seed: int | None = Field(None, ge=0, le=2**32 - 1)
    window: Literal["sentence", "full"] = Field("sentence", description="sentence: the model reads the answer's "
                                                                        "sentence (how qgen-small-ja was trained)")
    roundtrip: bool = Field(True, description="answer each question back with the span reader (the slowest check; "
                                              "false: roundtrip_answer and consistent are null)")


class Question(BaseModel):
    """One generated question with the checks a reviewer needs to accept or reject it."""

    question: str
    answer: str
    answer_start: int
    score: float | None = Field(description="mean log-probability per token of the question given its source")
    hallucinated: list[str] = Field(description="content words of the question that the paragraph lacks")
    roundtrip_answer: str | None = Field(description="the span reader's answer to the question")
    roundtrip_score: float | None
    consistent: bool | None = Field(description="the round-trip answer is the marked span")


class QuestionsResponse(BaseModel):
    """POST /v1/questions' answer: the model that wrote the questions and the questions."""

    model: str
    questions: list[Question]


class SuggestRequest(_Request):
    """POST /v1/suggest: the paragraph whose candidate answers to rank."""

    context: str = Field(min_length=1)
    model: str | None = None
    limit: int = Field(8, ge=1, le=24)
    window: Literal["sentence", "full"] = "sentence"


class Suggestion(BaseModel):
    """One candidate answer, where it is in the context and the question the model would write for it."""

    text: str
    start: int
    end: int
    question: str = Field(description="the greedy question the model writes for this answer")
    score: float | None


class SuggestResponse(BaseModel):
    """POST /v1/suggest's answer: the candidate answers, best first."""

    model: str
    answers: list[Suggestion]


class AnswersRequest(_Request):
    """POST /v1/answers: a question to answer from a paragraph (the span reader; round-trip checks by hand)."""

    context: str = Field(min_length=1)
    question: str = Field(min_length=1)
    model: str | None = None


class AnswersResponse(BaseModel):
    """POST /v1/answers' answer: the span read and where it is."""

    model: str
    answer: str
    score: float
    start: int = Field(description="offset in `context` (the normalised paragraph the reader read)")
    context: str


class QuizRequest(_Request):
    """POST /v1/quiz: a multiple-choice question to score and the retrieval gate's thresholds."""

    question: str = Field(min_length=1)
    choices: list[str] = Field(min_length=2)
    model: str | None = Field(None, description="a causal model (default: the first one offered)")
    gate_top1: float = Field(0.5, ge=0, le=1.01, description="the gate fires when the top-1 probability is below")
    gate_margin: float = Field(0.0, ge=0, le=1.01, description="… or when top-1 minus top-2 is below")


class Gate(BaseModel):
    """Whether the retrieval gate would fire for this question (the first pass is unsure), and its thresholds."""

    fires: bool
    top1_below: float
    margin_below: float


class QuizResponse(BaseModel):
    """POST /v1/quiz's answer: the choices' probabilities, the prediction and how sure it is."""

    model: str
    probabilities: list[float]
    pred: int
    answer: str
    confidence: float
    margin: float
    gate: Gate


class AcceptedItem(_Request):
    """A question a reviewer accepted, with its paragraph and answer (the source of one quiz record)."""

    id: str | None = None
    context: str = Field(min_length=1)
    question: str = Field(min_length=1)
    answer: str = Field(min_length=1)


class QuizRecordsRequest(_Request):
    """POST /v1/quiz-records: accepted questions to turn into train-style quiz records."""

    items: list[AcceptedItem] = Field(min_length=1, max_length=200)
    num_choices: int = Field(5, ge=2, le=10)
    seed: int = Field(0, ge=0)


class QuizRecordsResponse(BaseModel):
    """POST /v1/quiz-records' answer: the records and the items that could not become one (why)."""

    records: list[dict[str, object]]
    skipped: list[dict[str, object]]
