"""The steps a conversion template lists under `steps:`, run in order over the records.

Each step is one small operation — filters (`require`, `skip_if`, `unique`, `limit`), text preparation (`clean`,
`strip`, `set`, `join`, `pick`) and the data-set rules qgen already has, reused from their modules rather than copied
(`answer_in_body`, `context_window`, `highlight` and `holdout` from qgen.data.jsquad, `sample_choices` from
qgen.data.quiz, `paraphrases` from qgen.data.korquad). A record a step cannot use is skipped with a reason and counted;
a mistake in the template itself (unknown parameter or field, bad value) is an error naming the template line.

A parameter written as `$name` takes the value of the template option `name` (`qgen prepare --set name=VALUE`).
Every step also takes `when: $option`: the step runs only when the option is true.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path

from qgen.data.jsquad import answer_in_body, highlight, holdout_split, sentence_window
from qgen.data.korquad import load_paraphrases, paraphrases_of
from qgen.data.quiz import flatten, sample_choices
from qgen.data.skips import Skips
from qgen.data.squad import SquadQuestion
from qgen.data.template_core import Format, Record, Spot, YDict
from qgen.data.tsv import clean

LANGS = ("ja", "ko", "en")
_REQUIRED = object()
_OPTION_RE = re.compile(r"\$([A-Za-z_]\w*)")
_NAME_RE = re.compile(r"[A-Za-z_]\w*")


@dataclass
class RunState:
    """What a run collects besides records: skipped ids by reason, summary lines (stdout) and warnings (stderr)."""

    skips: Skips = field(default_factory=Skips)
    notes: list[str] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)


class Params:
    """A step's parameters, read through typed getters that name the template line on a bad value; `done()` rejects
    any parameter the step did not read (a typo such as `feilds:` must not be silently ignored)."""

    def __init__(self, step: str, raw, shorthand: str | None, spot: Spot, known: set[str], options: dict):
        if raw is None:
            raw = {}
        if not isinstance(raw, dict):
            if shorthand is None:
                raise spot.error(f"step '{step}' takes a mapping of parameters")
            raw = {shorthand: raw}
        self.step, self.raw, self.spot, self.known, self.options = step, raw, spot, known, options
        self.read: set[str] = set()

    def spot_of(self, key: str) -> Spot:
        return self.spot.at(self.raw.line_of(key)) if isinstance(self.raw, YDict) else self.spot

    def error(self, key: str, message: str):
        return self.spot_of(key).error(f"{self.step}.{key}: {message}")

    def _resolve(self, key: str, value):
        if isinstance(value, list):
            return [self._resolve(key, v) for v in value]
        m = _OPTION_RE.fullmatch(value) if isinstance(value, str) else None
        if m is None:
            return value
        if m.group(1) not in self.options:
            raise self.error(key, f"unknown option '{m.group(1)}' (options: {', '.join(sorted(self.options)) or 'none'})")
        return self.options[m.group(1)]

    def keys(self) -> list[str]:
        return [k for k in self.raw if k != "when"]

    def get(self, key: str, default=_REQUIRED):
        self.read.add(key)
        if key not in self.raw:
            if default is _REQUIRED:
                raise self.spot.error(f"{self.step}: missing parameter '{key}'")
            return default
        return self._resolve(key, self.raw[key])

    def text(self, key: str, default=_REQUIRED) -> str | None:
        value = self.get(key, default)
        if value is not None and not isinstance(value, str):
            raise self.error(key, f"expected text, got {value!r}")
        return value

    def field(self, key: str, default=_REQUIRED) -> str | None:
        """A field name that must exist at this point of the template."""
        value = self.text(key, default)
        if value is not None and value not in self.known:
            raise self.error(key, f"unknown field '{value}' (known here: {', '.join(sorted(self.known))})")
        return value

    def fields(self, key: str) -> list[str]:
        value = self.get(key)
        names = [value] if isinstance(value, str) else value
        if not isinstance(names, list) or not names or not all(isinstance(n, str) for n in names):
            raise self.error(key, "expected a field name or a list of field names")
        for name in names:
            if name not in self.known:
                raise self.error(key, f"unknown field '{name}' (known here: {', '.join(sorted(self.known))})")
        return names

    def name(self, key: str, default: str) -> str:
        """The name of a field this step creates."""
        value = self.text(key, default)
        if not _NAME_RE.fullmatch(value):
            raise self.error(key, f"{value!r} is not a field name (letters, digits, _)")
        return value

    def integer(self, key: str, default=_REQUIRED, minimum: int | None = None) -> int | None:
        value = self.get(key, default)
        if value is None and default is None:
            return None
        if isinstance(value, bool) or not isinstance(value, int):
            raise self.error(key, f"expected an integer, got {value!r}")
        if minimum is not None and value < minimum:
            raise self.error(key, f"must be at least {minimum}, got {value}")
        return value

    def boolean(self, key: str, default=_REQUIRED) -> bool:
        value = self.get(key, default)
        if not isinstance(value, bool):
            raise self.error(key, f"expected true or false, got {value!r}")
        return value

    def choice(self, key: str, choices: tuple, default=_REQUIRED):
        value = self.get(key, default)
        if value not in choices:
            raise self.error(key, f"expected one of {', '.join(map(str, choices))}, got {value!r}")
        return value

    def fmt(self, key: str, extra: tuple[str, ...] = ()) -> Format:
        return Format(self.get(key), self.spot_of(key), self.known | set(extra), f"{self.step}.{key}")

    def done(self) -> None:
        unknown = [k for k in self.raw if k not in self.read]
        if unknown:
            raise self.error(unknown[0], f"unknown parameter (this step takes: {', '.join(sorted(self.read))})")


class Step:
    """One entry of `steps:`. `produces` are the field names it adds (known to the steps and formats after it)."""

    shorthand: str | None = None  # the parameter a plain value stands for: `limit: 10` = `limit: {n: 10}`
    produces: tuple[str, ...] = ()

    def __init__(self, p: Params):
        self.spot = p.spot

    def run(self, records: list[Record], state: RunState) -> list[Record]:
        raise NotImplementedError


class RecordStep(Step):
    """A step that looks at one record at a time: `one` changes it in place and returns None, or returns why the
    record is skipped."""

    def run(self, records, state):
        out = []
        for r in records:
            reason = self.one(r)
            if reason is None:
                out.append(r)
            else:
                state.skips.add(reason, r.ident())
        return out

    def one(self, r: Record) -> str | None:
        raise NotImplementedError


STEPS: dict[str, type[Step]] = {}


def step(name: str):
    def register(cls):
        STEPS[name] = cls
        cls.step_name = name
        return cls

    return register


def _as_question(r: Record, spot: Spot, context: str, answer: str = None, answer_start: str = None) -> SquadQuestion:
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


# ---- filters -------------------------------------------------------------------------------------------------------

@step("limit")
class Limit(Step):
    """Keep the first `n` records (null: all). Its place in the list decides what is counted (before or after skips)."""

    shorthand = "n"

    def __init__(self, p):
        super().__init__(p)
        self.n = p.integer("n", None, minimum=1)

    def run(self, records, state):
        return records if self.n is None else records[: self.n]


@step("require")
class Require(RecordStep):
    """Skip a record whose field is empty (after stripping spaces) — for a list: empty, or with an empty item."""

    shorthand = "fields"

    def __init__(self, p):
        super().__init__(p)
        self.fields = p.fields("fields")
        self.reason = p.text("reason", None) or f"empty {' or '.join(self.fields)}"

    def one(self, r):
        for name in self.fields:
            value = r.get(name, self.spot)
            items = value if isinstance(value, list) else [value]
            if not items or any(v is None or not str(v).strip() for v in items):
                return self.reason
        return None


@step("skip_if")
class SkipIf(RecordStep):
    """Skip a record whose field `contains` a text or `matches` a regular expression (searched anywhere in it)."""

    def __init__(self, p):
        super().__init__(p)
        self.field = p.field("field")
        contains, matches = p.text("contains", None), p.text("matches", None)
        if (contains is None) == (matches is None):
            raise p.spot.error(f"{p.step}: give exactly one of 'contains' and 'matches'")
        try:
            self.regex = re.compile(re.escape(contains) if contains is not None else matches,
                                    re.IGNORECASE if p.boolean("ignore_case", False) else 0)
        except re.error as e:
            raise p.error("matches", f"bad regular expression: {e}") from None
        self.reason = p.text("reason", None) or f"'{self.field}' {'contains' if contains else 'matches'} " \
                                                 f"{contains if contains is not None else matches!r}"

    def one(self, r):
        value = r.get(self.field, self.spot)
        items = value if isinstance(value, list) else [value]
        return self.reason if any(self.regex.search(str(v)) for v in items) else None


@step("unique")
class Unique(Step):
    """Skip a record whose field value was already seen (the first one stays)."""

    shorthand = "field"

    def __init__(self, p):
        super().__init__(p)
        self.field = p.field("field")
        self.reason = p.text("reason", None) or f"duplicate {self.field}"

    def run(self, records, state):
        seen, out = set(), []
        for r in records:
            key = str(r.get(self.field, self.spot))
            if key in seen:
                state.skips.add(self.reason, r.ident())
                continue
            seen.add(key)
            out.append(r)
        return out


# ---- text ----------------------------------------------------------------------------------------------------------

@step("clean")
class Clean(RecordStep):
    """Normalise text fields (and each item of list fields) as all qgen data is: qgen.data.tsv.clean (NFKC, neologdn
    for Japanese, line breaks and tabs removed). `normalize: false` only turns line breaks and tabs into spaces."""

    shorthand = "fields"

    def __init__(self, p):
        super().__init__(p)
        self.fields = p.fields("fields")
        lang = p.choice("lang", LANGS, "ja")
        self.fn = (lambda t: clean(t, lang)) if p.boolean("normalize", True) else flatten

    def one(self, r):
        for name in self.fields:
            value = r.get(name, self.spot)
            items = value if isinstance(value, list) else [value]
            if not all(isinstance(v, str) for v in items):
                return f"'{name}' is not text"
            r.values[name] = [self.fn(v) for v in value] if isinstance(value, list) else self.fn(value)
        return None


@step("strip")
class Strip(RecordStep):
    """Remove spaces at both ends of text fields."""

    shorthand = "fields"

    def __init__(self, p):
        super().__init__(p)
        self.fields = p.fields("fields")

    def one(self, r):
        for name in self.fields:
            value = r.get(name, self.spot)
            if isinstance(value, str):
                r.values[name] = value.strip()
        return None


@step("set")
class Set(RecordStep):
    """New fields from format strings: `set: {context_text: "{context}"}` keeps a copy that a later `clean` may change
    while the raw text stays for another step."""

    def __init__(self, p):
        super().__init__(p)
        names = p.keys()
        if not names:
            raise p.spot.error("set: give at least one `name: format string`")
        for name in names:
            if not _NAME_RE.fullmatch(str(name)):
                raise p.error(name, "not a field name (letters, digits, _)")
        self.formats = {name: p.fmt(name) for name in names}
        self.produces = tuple(names)

    def one(self, r):
        r.values.update({name: f(r.values, r) for name, f in self.formats.items()})
        return None


@step("join")
class Join(RecordStep):
    """`as` = the items of a list field, each formatted with `item` ({n}: its 0-based position, {item}: the item, and
    the record's fields), joined with `sep` — numbered choices, label lists."""

    def __init__(self, p):
        super().__init__(p)
        self.list = p.field("list")
        self.item = p.fmt("item", extra=("n", "item"))
        self.sep = p.text("sep", "")
        self.name = p.name("as", self.list)
        self.produces = (self.name,)

    def one(self, r):
        items = r.get(self.list, self.spot)
        if not isinstance(items, list):
            return f"'{self.list}' is not a list"
        r.values[self.name] = self.sep.join(self.item({**r.values, "n": i, "item": v}, r) for i, v in enumerate(items))
        return None


@step("pick")
class Pick(RecordStep):
    """`as` = list[index] (e.g. the correct choice's text from the label); an index out of range skips the record."""

    def __init__(self, p):
        super().__init__(p)
        self.list, self.index = p.field("list"), p.field("index")
        self.name = p.name("as", "picked")
        self.produces = (self.name,)

    def one(self, r):
        items, i = r.get(self.list, self.spot), r.get(self.index, self.spot)
        if not isinstance(items, list):
            return f"'{self.list}' is not a list"
        if isinstance(i, bool) or not isinstance(i, int):
            return f"{self.index} is not an integer"
        if not 0 <= i < len(items):
            return f"{self.index} {i} out of range 0..{len(items) - 1}"
        r.values[self.name] = items[i]
        return None


# ---- data-set rules, reused from their modules ---------------------------------------------------------------------

@step("holdout")
class Holdout(Step):
    """Send a `fraction` of the groups of records sharing the (normalised) `by` field — all questions on one
    context — to the holdout output (`--holdout-output`), by qgen.data.jsquad.holdout_split's seeded rule.
    `fraction: null` keeps everything in the main output."""

    def __init__(self, p):
        super().__init__(p)
        fraction = p.get("fraction")
        if fraction is not None and (isinstance(fraction, bool) or not isinstance(fraction, (int, float))
                                     or not 0 < fraction < 1):
            raise p.error("fraction", f"must be between 0 and 1 (exclusive), got {fraction!r}")
        self.fraction = fraction
        self.seed = p.integer("seed", 0)
        self.by = p.field("by", "context")
        self.lang = p.choice("lang", LANGS, "ja")

    def run(self, records, state):
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

    def __init__(self, p):
        super().__init__(p)
        self.context, self.answer = p.field("context", "context"), p.field("answer", "answer")
        self.answer_start = p.field("answer_start", "answer_start")
        self.moved = 0

    def run(self, records, state):
        self.moved = 0
        out = super().run(records, state)
        state.notes.append(f"moved {self.moved} answers from the title to the body")
        return out

    def one(self, r):
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

    def __init__(self, p):
        super().__init__(p)
        self.window = p.choice("window", ("full", "sentence"), "full")
        self.neighbours = p.integer("neighbours", 0, minimum=0)
        if self.neighbours and self.window != "sentence":
            raise p.error("neighbours", "needs window: sentence")
        self.context, self.answer = p.field("context", "context"), p.field("answer", "answer")
        self.answer_start = p.field("answer_start", "answer_start")

    def run(self, records, state):
        return records if self.window == "full" else super().run(records, state)

    def one(self, r):
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

    def __init__(self, p):
        super().__init__(p)
        self.context, self.answer = p.field("context", "context"), p.field("answer", "answer")
        self.answer_start = p.field("answer_start", "answer_start")
        self.lang = p.choice("lang", LANGS, "ja")
        self.name = p.name("as", "highlighted")
        self.produces = (self.name,)

    def one(self, r):
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

    def __init__(self, p):
        super().__init__(p)
        self.answer, self.candidates = p.field("answer"), p.field("candidates")
        self.n, self.seed = p.integer("n", 5, minimum=2), p.integer("seed", 0)
        self.key = p.field("key", "id")
        self.name, self.label = p.name("as", "choices"), p.name("label_as", "label")
        self.produces = (self.name, self.label)

    def one(self, r):
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

    def __init__(self, p):
        super().__init__(p)
        self.file = p.text("file")
        self.field = p.field("field", "question")
        self.key = p.field("key", "id")
        self.lang = p.choice("lang", LANGS, "ko")
        self.id = p.fmt("id", extra=("k",))

    def run(self, records, state):
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
