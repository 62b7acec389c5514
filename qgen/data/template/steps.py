"""The steps a conversion template lists under `steps:`, run in order over the records: the general ones here.

Each step is one small operation — filters (`require`, `skip_if`, `unique`, `limit`) and text preparation (`clean`,
`strip`, `set`, `join`, `pick`) here; the data-set rules qgen already has, reused from their modules rather than copied
(`answer_in_body`, `context_window`, `highlight` and `holdout` from qgen.data.jsquad, `sample_choices` from
qgen.data.quiz, `paraphrases` from qgen.data.korquad), are in qgen.data.template.dataset_steps; what a step is built
from (parameters, base classes, the registry `STEPS`) in qgen.data.template.step_base. A record a step cannot use is
skipped with a reason and counted; a mistake in the template itself (unknown parameter or field, bad value) is an
error naming the template line.

A parameter written as `$name` takes the value of the template option `name` (`qgen prepare --set name=VALUE`).
Every step also takes `when: $option`: the step runs only when the option is true.
"""

from __future__ import annotations

import re

from qgen.data.quiz import flatten
from qgen.data.template.records import Record
from qgen.data.template.step_base import LANGS, NAME_RE, Params, RecordStep, RunState, Step, step
from qgen.data.tsv import clean

# ---- filters -------------------------------------------------------------------------------------------------------

@step("limit")
class Limit(Step):
    """Keep the first `n` records (null: all). Its place in the list decides what is counted (before or after skips)."""

    shorthand = "n"

    def __init__(self, p: Params):
        super().__init__(p)
        self.n = p.integer("n", None, minimum=1)

    def run(self, records: list[Record], state: RunState) -> list[Record]:
        return records if self.n is None else records[: self.n]


@step("require")
class Require(RecordStep):
    """Skip a record whose field is empty (after stripping spaces) — for a list: empty, or with an empty item."""

    shorthand = "fields"

    def __init__(self, p: Params):
        super().__init__(p)
        self.fields = p.fields("fields")
        self.reason = p.text("reason", None) or f"empty {' or '.join(self.fields)}"

    def one(self, r: Record) -> str | None:
        for name in self.fields:
            value = r.get(name, self.spot)
            items = value if isinstance(value, list) else [value]
            if not items or any(v is None or not str(v).strip() for v in items):
                return self.reason
        return None


@step("skip_if")
class SkipIf(RecordStep):
    """Skip a record whose field `contains` a text or `matches` a regular expression (searched anywhere in it)."""

    def __init__(self, p: Params):
        super().__init__(p)
        self.field = p.field("field")
        contains, matches = p.text("contains", None), p.text("matches", None)
        if (contains is None) == (matches is None):
            raise p.spot.error(f"{p.step}: give exactly one of 'contains' and 'matches'")
        try:
            self.regex = re.compile(re.escape(contains) if contains is not None else str(matches),
                                    re.IGNORECASE if p.boolean("ignore_case", False) else 0)
        except re.error as e:
            raise p.error("matches", f"bad regular expression: {e}") from None
        self.reason = p.text("reason", None) or f"'{self.field}' {'contains' if contains else 'matches'} " \
                                                 f"{contains if contains is not None else matches!r}"

    def one(self, r: Record) -> str | None:
        value = r.get(self.field, self.spot)
        items = value if isinstance(value, list) else [value]
        return self.reason if any(self.regex.search(str(v)) for v in items) else None


@step("unique")
class Unique(Step):
    """Skip a record whose field value was already seen (the first one stays)."""

    shorthand = "field"

    def __init__(self, p: Params):
        super().__init__(p)
        self.field = p.field("field")
        self.reason = p.text("reason", None) or f"duplicate {self.field}"

    def run(self, records: list[Record], state: RunState) -> list[Record]:
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

    def __init__(self, p: Params):
        super().__init__(p)
        self.fields = p.fields("fields")
        lang = p.choice("lang", LANGS, "ja")
        self.fn = (lambda t: clean(t, lang)) if p.boolean("normalize", True) else flatten

    def one(self, r: Record) -> str | None:
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

    def __init__(self, p: Params):
        super().__init__(p)
        self.fields = p.fields("fields")

    def one(self, r: Record) -> str | None:
        for name in self.fields:
            value = r.get(name, self.spot)
            if isinstance(value, str):
                r.values[name] = value.strip()
        return None


@step("set")
class Set(RecordStep):
    """New fields from format strings: `set: {context_text: "{context}"}` keeps a copy that a later `clean` may change
    while the raw text stays for another step."""

    def __init__(self, p: Params):
        super().__init__(p)
        names = p.keys()
        if not names:
            raise p.spot.error("set: give at least one `name: format string`")
        for name in names:
            if not NAME_RE.fullmatch(str(name)):
                raise p.error(name, "not a field name (letters, digits, _)")
        self.formats = {name: p.fmt(name) for name in names}
        self.produces = tuple(names)

    def one(self, r: Record) -> str | None:
        r.values.update({name: f(r.values, r) for name, f in self.formats.items()})
        return None


@step("join")
class Join(RecordStep):
    """`as` = the items of a list field, each formatted with `item` ({n}: its 0-based position, {item}: the item, and
    the record's fields), joined with `sep` — numbered choices, label lists."""

    def __init__(self, p: Params):
        super().__init__(p)
        self.list = p.field("list")
        self.item = p.fmt("item", extra=("n", "item"))
        self.sep = p.text("sep", "")
        self.name = p.name("as", self.list)
        self.produces = (self.name,)

    def one(self, r: Record) -> str | None:
        items = r.get(self.list, self.spot)
        if not isinstance(items, list):
            return f"'{self.list}' is not a list"
        r.values[self.name] = self.sep.join(self.item({**r.values, "n": i, "item": v}, r) for i, v in enumerate(items))
        return None


@step("pick")
class Pick(RecordStep):
    """`as` = list[index] (e.g. the correct choice's text from the label); an index out of range skips the record."""

    def __init__(self, p: Params):
        super().__init__(p)
        self.list, self.index = p.field("list"), p.field("index")
        self.name = p.name("as", "picked")
        self.produces = (self.name,)

    def one(self, r: Record) -> str | None:
        items, i = r.get(self.list, self.spot), r.get(self.index, self.spot)
        if not isinstance(items, list):
            return f"'{self.list}' is not a list"
        if isinstance(i, bool) or not isinstance(i, int):
            return f"{self.index} is not an integer"
        if not 0 <= i < len(items):
            return f"{self.index} {i} out of range 0..{len(items) - 1}"
        r.values[self.name] = items[i]
        return None
