"""The ASGI app of `qgen serve`: the JSON API under /v1, the playground page at /, OpenAPI docs at /docs and /redoc.

The docs pages load Swagger UI / ReDoc from the fastapi-offline package's own copy (FastAPI's default pages fetch
them from a CDN, which an offline machine cannot reach). Every error is JSON `{"detail": "FIELD: why", "field"}`:
invalid JSON 400, too large 413, unknown model 404, bad or out-of-range fields 422, busy 503; anything unexpected is
a 500 whose body says only "internal error" (the traceback goes to the server's log, never to the client).
"""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator, Sequence
from contextlib import asynccontextmanager
from importlib.resources import files

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import FileResponse, JSONResponse
from fastapi.staticfiles import StaticFiles
from fastapi_offline import FastAPIOffline
from pydantic import BaseModel
from pydantic_core import ErrorDetails
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from qgen.serve import schemas
from qgen.serve.engine import Engine
from qgen.serve.errors import ApiError
from qgen.serve.settings import ServeSettings
from qgen.serve.texts import quiz_records

log = logging.getLogger(__name__)
STATIC = files("qgen.serve") / "static"


class BodyLimit:
    """ASGI middleware: a body over `limit` bytes gets 413, by its Content-Length or, for a chunked body, while it is
    read (the body is read here, at most `limit` bytes, and handed on whole)."""

    def __init__(self, app: ASGIApp, limit: int) -> None:
        self.app, self.limit = app, limit

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            return await self.app(scope, receive, send)
        length = dict(scope.get("headers") or []).get(b"content-length")
        if length is not None and (not length.isdigit() or int(length) > self.limit):
            return await _too_large(scope, receive, send, self.limit)
        if scope.get("method") not in ("POST", "PUT", "PATCH"):
            return await self.app(scope, receive, send)
        chunks: list[bytes] = []
        seen = 0
        while True:
            message = await receive()
            if message["type"] != "http.request":  # the client went away
                return None
            chunks.append(message.get("body", b""))
            seen += len(chunks[-1])
            if seen > self.limit:
                return await _too_large(scope, receive, send, self.limit)
            if not message.get("more_body"):
                break
        body, sent = b"".join(chunks), False

        async def replay() -> Message:
            """The body read above, then whatever the client sends next (a disconnect)."""
            nonlocal sent
            if not sent:
                sent = True
                return {"type": "http.request", "body": body, "more_body": False}
            return await receive()

        await self.app(scope, replay, send)


async def _too_large(scope: Scope, receive: Receive, send: Send, limit: int) -> None:
    await JSONResponse({"detail": f"body: over {limit} bytes", "field": "body"}, 413)(scope, receive, send)


def _field(loc: Sequence[int | str]) -> str:
    parts = [str(p) for p in loc if p != "body"]
    return ".".join(parts) or "body"


def _check_sizes(req: BaseModel, settings: ServeSettings) -> None:
    """413 for a text over the server's limits (context, then each question / answer / choice)."""
    if len(getattr(req, "context", "") or "") > settings.max_context_chars:
        raise ApiError(413, "context", f"over {settings.max_context_chars} characters")
    for name in ("question", "answer"):
        if len(getattr(req, name, None) or "") > settings.max_text_chars:
            raise ApiError(413, name, f"over {settings.max_text_chars} characters")
    for i, c in enumerate(getattr(req, "choices", None) or []):
        if len(c) > settings.max_text_chars:
            raise ApiError(413, f"choices.{i}", f"over {settings.max_text_chars} characters")
        if not c.strip():
            raise ApiError(422, f"choices.{i}", "empty choice")


async def _api_error(request: Request, e: ApiError) -> JSONResponse:
    """The error's status and body (the field at fault and why)."""
    return JSONResponse(e.body(), e.status)


async def _invalid(request: Request, e: RequestValidationError) -> JSONResponse:
    """pydantic's first complaint as one `FIELD: why` line: 400 for JSON that does not parse, else 422."""
    errors = e.errors()
    first: ErrorDetails = errors[0] if errors else {"loc": ("body",), "msg": "invalid request", "type": "",
                                                    "input": None}
    if first.get("type") == "json_invalid":
        return JSONResponse({"detail": f"body: invalid JSON ({first.get('ctx', {}).get('error', 'parse error')})",
                             "field": "body"}, 400)
    field = _field(first.get("loc", ()))
    msg = first.get("msg", "invalid")
    if first.get("type") == "missing":
        msg = "missing"
    elif first.get("type") == "extra_forbidden":
        msg = "unknown field"
    return JSONResponse({"detail": f"{field}: {msg}", "field": field, "errors": len(errors)}, 422)


async def _internal(request: Request, e: Exception) -> JSONResponse:
    """A bug: the traceback goes to the server's log, the client gets a 500 without it."""
    log.exception("internal error on %s", request.url.path)
    return JSONResponse({"detail": "internal error (see the server's log)", "field": None}, 500)


def create_app(engine: Engine, preload: bool = True) -> FastAPI:
    """The app over `engine` (its registry and settings); `preload` loads the default model at start-up."""
    settings = engine.settings

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        """Load the default model before the first request (when asked); stop the batchers' threads at shutdown."""
        if preload:
            await engine.load(engine.registry.get(None))
        yield
        engine.close()  # uvicorn has let in-flight requests finish by now

    app = FastAPIOffline(title="qgen", version="1", lifespan=lifespan,
                         description="Question generation, answers and quiz scoring with qgen models (offline).")
    app.add_middleware(BodyLimit, limit=settings.max_body_bytes)

    app.exception_handler(ApiError)(_api_error)
    app.exception_handler(RequestValidationError)(_invalid)
    app.exception_handler(Exception)(_internal)

    @app.get("/healthz")
    async def healthz() -> dict[str, object]:
        """Liveness, the loaded models and how the batchers have batched so far."""
        return {"status": "ok", "loaded": [e.name for e in engine.registry.entries.values() if e.loaded is not None],
                "batching": engine.stats()}

    @app.get("/v1/models")
    async def models() -> dict[str, object]:
        """The models requests may name (shipped ones and the checkpoints found under --models) and the server's caps."""
        limits = {k: getattr(settings, k) for k in ("max_questions", "max_beams", "max_new_tokens", "max_context_chars",
                                                    "max_text_chars", "max_choices")}
        return {"default": engine.registry.default, "models": engine.registry.describe(), "limits": limits}

    @app.post("/v1/questions", response_model=schemas.QuestionsResponse)
    async def questions(req: schemas.QuestionsRequest) -> dict[str, object]:
        """Questions about `answer` in `context` (without `answer`: about the best candidate answers), each with its
        score, hallucinated words and the round-trip check."""
        _check_sizes(req, settings)
        return await engine.questions(req)

    @app.post("/v1/suggest", response_model=schemas.SuggestResponse)
    async def suggest(req: schemas.SuggestRequest) -> dict[str, object]:
        """Candidate answers of the context, best first (ranked by the model's score of the question it would write)."""
        _check_sizes(req, settings)
        return await engine.suggest(req)

    @app.post("/v1/answers", response_model=schemas.AnswersResponse)
    async def answers(req: schemas.AnswersRequest) -> dict[str, object]:
        """The span of `context` that answers `question` (the span reader) and its score."""
        _check_sizes(req, settings)
        return await engine.answer(req)

    @app.post("/v1/quiz", response_model=schemas.QuizResponse)
    async def quiz(req: schemas.QuizRequest) -> dict[str, object]:
        """The probability of each choice, the confidence and whether the retrieval gate would fire."""
        _check_sizes(req, settings)
        return await engine.quiz(req)

    @app.post("/v1/quiz-records", response_model=schemas.QuizRecordsResponse)
    async def records(req: schemas.QuizRecordsRequest) -> dict[str, object]:
        """Accepted questions → train-style quiz records (the format `qgen prepare-quiz` writes); the wrong choices
        are other candidate answers of the paragraph."""
        for i, item in enumerate(req.items):
            try:
                _check_sizes(item, settings)
            except ApiError as e:
                raise ApiError(e.status, f"items.{i}.{e.field}", e.message) from None
        recs, skipped = quiz_records([item.model_dump(exclude_none=True) for item in req.items], req.num_choices,
                                     req.seed)  # exclude_none: an item without an id gets one
        return {"records": recs, "skipped": skipped}

    app.mount("/static", StaticFiles(directory=str(STATIC)), name="static")

    @app.get("/", include_in_schema=False)
    async def page() -> FileResponse:
        """The playground page (static/index.html)."""
        return FileResponse(str(STATIC / "index.html"))

    return app
