"""The data-set rules a conversion template's `steps:` can name, reused from their modules rather than copied:
`holdout`, `answer_in_body`, `context_window` and `highlight` (qgen.data.jsquad), `sample_choices` (qgen.data.quiz),
`paraphrases` (qgen.data.korquad). Registered in qgen.data.template.step_base.STEPS like the other steps.
"""

from __future__ import annotations

from pathlib import Path

from qgen.data.jsquad import answer_in_body, highlight, holdout_split, sentence_window
from qgen.data.korquad import load_paraphrases, paraphrases_of
from qgen.data.quiz import sample_choices
from qgen.data.squad import SquadQuestion
from qgen.data.template.records import Record, Spot
from qgen.data.template.step_base import LANGS, Params, RecordStep, RunState, Step, step


def _as_question(r: Record, spot: Spot, context: str, answer: str | None = None,
                 answer_start: str | None = None) -> SquadQuestion:
    """The record as the SquadQuestion that qgen.data.jsquad's functions take (only the fields they read are set)."""
    start = r.get(answer_start, spot) if answer_start else 0
    if isinstance(start, str) and start.strip().isdigit():  # CSV/TSV values are text
        start = int(start)
    if isinstance(start, bool) or not isinstance(start, int):
        raise _Skip(f"'{answer_start}' is not an integer")
    texts = [r.get(context, spot), r.get(answer, spot) if answer else ""]
    if not all(isinstance(t, str) for t in texts):
        raise _Skip("context or answer is not text")
    return SquadQuestion(id="", question="", answer=texts[1], answer_start=start, context=texts[0], title="",
                         position=r.where)


class _Skip(Exception):
    """Raised inside a RecordStep helper: skip the record for this reason."""


@step("holdout")
class Holdout(Step):
    """Send a `fraction` of the groups of records sharing the (normalised) `by` field — all questions on one
    context — to the holdout output (`--holdout-output`), by qgen.data.jsquad.holdout_split's seeded rule.
    `fraction: null` keeps everything in the main output."""

    def __init__(self, p: Params):
        super().__init__(p)
        fraction = p.get("fraction")
        if fraction is not None and (isinstance(fraction, bool) or not isinstance(fraction, (int, float))
                                     or not 0 < fraction < 1):
            raise p.error("fraction", f"must be between 0 and 1 (exclusive), got {fraction!r}")
        self.fraction = fraction
        self.seed = p.integer("seed", 0)
        self.by = p.field("by", "context")
        self.lang = p.choice("lang", LANGS, "ja")

    def run(self, records: list[Record], state: RunState) -> list[Record]:
        if self.fraction is None:
            return records
        proxies = []
        for r in records:
            value = r.get(self.by, self.spot)
            proxies.append(SquadQuestion("", "", "", 0, value if isinstance(value, str) else str(value), "", r.where))
        try:
            _, dev = holdout_split(proxies, self.fraction, self.seed, self.lang)
        except ValueError as e:
            raise self.spot.error(f"holdout: {e}") from None
        held = {id(q) for q in dev}
        for r, q in zip(records, proxies):
            if id(q) in held:
                r.split = "holdout"
        return records


@step("answer_in_body")
class AnswerInBody(RecordStep):
    """JSQuAD: an answer_start inside the "TITLE [SEP]" prefix moves to the answer's first occurrence in the body
    (qgen.data.jsquad.answer_in_body); the summary says how many moved."""

    def __init__(self, p: Params):
        super().__init__(p)
        self.context, self.answer = p.field("context", "context"), p.field("answer", "answer")
        self.answer_start = p.field("answer_start", "answer_start")
        self.moved = 0

    def run(self, records: list[Record], state: RunState) -> list[Record]:
        self.moved = 0
        out = super().run(records, state)
        state.notes.append(f"moved {self.moved} answers from the title to the body")
        return out

    def one(self, r: Record) -> str | None:
        try:
            q = _as_question(r, self.spot, self.context, self.answer, self.answer_start)
        except _Skip as e:
            return str(e)
        moved = answer_in_body(q)
        if moved is not q:
            self.moved += 1
            r.values[self.answer_start] = moved.answer_start
        return None


@step("context_window")
class ContextWindow(RecordStep):
    """`window: sentence` cuts the context to the sentence(s) holding the answer span (plus `neighbours` on each
    side), keeping "TITLE [SEP]" (qgen.data.jsquad.sentence_window); `full` leaves it whole."""

    def __init__(self, p: Params):
        super().__init__(p)
        self.window = p.choice("window", ("full", "sentence"), "full")
        self.neighbours = p.integer("neighbours", 0, minimum=0)
        if self.neighbours and self.window != "sentence":
            raise p.error("neighbours", "needs window: sentence")
        self.context, self.answer = p.field("context", "context"), p.field("answer", "answer")
        self.answer_start = p.field("answer_start", "answer_start")

    def run(self, records: list[Record], state: RunState) -> list[Record]:
        return records if self.window == "full" else super().run(records, state)

    def one(self, r: Record) -> str | None:
        try:
            q = sentence_window(_as_question(r, self.spot, self.context, self.answer, self.answer_start),
                                self.neighbours)
        except _Skip as e:
            return str(e)
        r.values[self.context], r.values[self.answer_start] = q.context, q.answer_start
        return None


@step("highlight")
class Highlight(RecordStep):
    """`as` = the raw context with the answer span at answer_start wrapped as "<hl> answer <hl>", each piece
    normalised on its own (qgen.data.jsquad.highlight) — so give it the raw, not the cleaned, texts."""

    def __init__(self, p: Params):
        super().__init__(p)
        self.context, self.answer = p.field("context", "context"), p.field("answer", "answer")
        self.answer_start = p.field("answer_start", "answer_start")
        self.lang = p.choice("lang", LANGS, "ja")
        self.name = p.name("as", "highlighted")
        self.produces = (self.name,)

    def one(self, r: Record) -> str | None:
        try:
            q = _as_question(r, self.spot, self.context, self.answer, self.answer_start)
            r.values[self.name] = highlight(q.context, q.answer_start, q.answer, self.lang)
        except (_Skip, ValueError) as e:
            return str(e)
        return None


@step("sample_choices")
class SampleChoices(RecordStep):
    """JAQKET: `n` choices = the answer and n-1 distinct other candidates, sampled with Random(f"{seed}:{key}")
    (qgen.data.quiz.sample_choices); `as` gets the choices, `label_as` the answer's position."""

    def __init__(self, p: Params):
        super().__init__(p)
        self.answer, self.candidates = p.field("answer"), p.field("candidates")
        self.n, self.seed = p.integer("n", 5, minimum=2), p.integer("seed", 0)
        self.key = p.field("key", "id")
        self.name, self.label = p.name("as", "choices"), p.name("label_as", "label")
        self.produces = (self.name, self.label)

    def one(self, r: Record) -> str | None:
        candidates = r.get(self.candidates, self.spot)
        if not isinstance(candidates, list):
            return f"'{self.candidates}' is not a list"
        sampled = sample_choices(r.get(self.answer, self.spot), candidates, self.n, self.seed,
                                 str(r.get(self.key, self.spot)))
        if isinstance(sampled, str):
            return sampled
        r.values[self.name], r.values[self.label] = list(sampled[0]), sampled[1]
        return None


@step("paraphrases")
class Paraphrases(Step):
    """Augmentation: after each record, one copy per paraphrase of its `field`, from a JSON file {question or id:
    [paraphrases]} (qgen.data.korquad's matching: the id first, else the normalised text; repeats dropped); the copy's
    id is formatted with `id` ({k} = 1, 2, …). `file: null` adds nothing."""

    def __init__(self, p: Params):
        super().__init__(p)
        self.file = p.text("file")
        self.field = p.field("field", "question")
        self.key = p.field("key", "id")
        self.lang = p.choice("lang", LANGS, "ko")
        self.id = p.fmt("id", extra=("k",))

    def run(self, records: list[Record], state: RunState) -> list[Record]:
        if self.file is None:
            return records
        table = load_paraphrases(Path(self.file), self.lang)
        out, used, added = [], set(), 0
        for r in records:
            out.append(r)
            key, paras = paraphrases_of(str(r.get(self.key, self.spot)), r.get(self.field, self.spot), table)
            if key is not None:
                used.add(key)
            for k, para in enumerate(paras, 1):
                values = {**r.values, self.field: para}
                values["id"] = self.id({**r.values, "k": k}, r)
                out.append(Record(values, r.where, r.split))
                added += 1
        unused = [k for k in table if k not in used]
        state.notes.append(f"paraphrases: {added} extra examples from {len(used)} paraphrase keys; "
                           f"{len(unused)} paraphrase keys matched no question")
        if unused:
            state.warnings.append("unmatched paraphrase keys: " + ", ".join(map(repr, unused[:10]))
                                  + (" …" if len(unused) > 10 else ""))
        return out
