"""Data conversion driven by a YAML template: records from files → named fields → steps → formatted output rows.

One general converter instead of one script per data set ("give the keys and the prompt, get any format"). A template:

    description: one line shown by `qgen prepare --help`
    input: squad            # squad (SQuAD-v1.1 layout) | json (a JSON list or JSON lines) | jsonl | csv | tsv (header row)
    fields:                 # name: dotted path in the record ("answers.0.text"); or a mapping:
      id: q_id              #   {path: p, missing: error|skip|default, default: v, type: str|int|float|bool|list|dict|[…]}
      choices: {each: "choice{n}"}   # choice0, choice1, … until one is missing, as a list
    options:                # defaults; `--set name=value` overrides; steps read them as $name
      lang: ja
    steps:                  # run in order; see qgen.data.template.steps
      - clean: {fields: [question], lang: $lang}
    output:
      format: tsv           # tsv: id/source/target format strings | json (a list) | jsonl: `record:` key → format string
      id: "{id}"
      source: "question: {question}"
      target: "{answer}"

For `input: squad` the record fields are id, question, answer (the first), answer_start, context and title, read and
checked by qgen.data.squad (its skips are counted the same way). The shipped templates in configs/templates/ reproduce
prepare_jsquad.py, prepare_quiz.py and prepare_korquad.py byte for byte.

Problems with the template — unknown key, step, parameter, option or field, a format string naming a field that does
not exist at that point, a record without a key the template reads — are one error naming the template line (and the
record). Problems with a record's data (wrong type, empty text, duplicate id) skip it, counted by reason.
"""

from __future__ import annotations

import contextlib
import json
from pathlib import Path
from typing import Any

from qgen.core.errors import PathArg, QgenInputError
from qgen.core.files import atomic_write
from qgen.data.examples import Example
from qgen.data.template import dataset_steps, steps  # noqa: F401  (importing them registers their steps in STEPS)
from qgen.data.template.inputs import SOURCES, SkipRecord, parse_fields, raw_records
from qgen.data.template.records import Format, Record, Spot, YDict, YList, load_yaml
from qgen.data.template.step_base import STEPS, Params, RunState, Step
from qgen.data.tsv import format_row

OUTPUTS = ("tsv", "json", "jsonl")
SECTIONS = ("description", "input", "fields", "options", "steps", "output")


class Template:
    """A loaded, checked conversion template. `convert(inputs)` runs it; `write(outputs)` writes the rows."""

    def __init__(self, path: PathArg, overrides: dict | None = None):
        self.path = Path(path)
        doc = load_yaml(self.path)
        spot = Spot(self.path, 1)
        if not isinstance(doc, YDict):
            raise spot.error(f"a template is a mapping with {', '.join(SECTIONS)}; got {type(doc).__name__}")
        for key in doc:
            if key not in SECTIONS:
                raise spot.at(doc.line_of(key)).error(f"unknown section '{key}' (sections: {', '.join(SECTIONS)})")
        for key in ("input", "fields", "output"):
            if key not in doc:
                raise spot.error(f"missing section '{key}'")
        self.doc: YDict = doc
        self.description = str(doc.get("description") or "")
        self.options = self._options(doc.get("options"), overrides or {})
        self.source, self.records_path = self._input(doc["input"], spot.at(doc.line_of("input")))
        self.fields = parse_fields(doc["fields"], spot.at(doc.line_of("fields")), self.source)
        known = {f.name for f in self.fields}
        self.steps = self._steps(doc.get("steps"), spot.at(doc.line_of("steps")), known)
        self.out_format, self.out_fields = self._output(doc["output"], spot.at(doc.line_of("output")), known)

    # ---- loading -----------------------------------------------------------------------------------------------------

    def _options(self, raw: object, overrides: dict) -> dict:
        raw = YDict() if raw is None else raw
        if not isinstance(raw, dict):
            raise Spot(self.path, self.doc.line_of("options")).error("options: expected a mapping name: default")
        unknown = [k for k in overrides if k not in raw]
        if unknown:
            raise QgenInputError(f"unknown option '{unknown[0]}' (this template's options: "
                                 f"{', '.join(map(str, raw)) or 'none'})", path=self.path)
        return {**raw, **overrides}

    def _input(self, raw: object, spot: Spot) -> tuple[str, str | None]:
        fmt, records = raw, None
        if isinstance(raw, YDict):
            extra = [k for k in raw if k not in ("format", "records")]
            if extra:
                raise spot.at(raw.line_of(extra[0])).error(f"input: unknown key '{extra[0]}' (keys: format, records)")
            fmt, records = raw.get("format"), raw.get("records")
        if fmt not in SOURCES:
            raise spot.error(f"input: expected one of {', '.join(SOURCES)}, got {fmt!r}")
        if records is not None and fmt not in ("json", "jsonl"):
            raise spot.error("input.records (the path of the record list inside the document) is for json input")
        return fmt, records

    def _steps(self, raw: object, spot: Spot, known: set[str]) -> list[tuple[Step, bool]]:
        if raw is None:
            return []
        if not isinstance(raw, YList):
            raise spot.error("steps: expected a list (`- name: parameters`)")
        out = []
        for i, entry in enumerate(raw):
            sspot = spot.at(raw.line_of(i))
            if not isinstance(entry, dict) or len(entry) != 1:
                raise sspot.error("a step is one `name: parameters` entry")
            (name, params), = entry.items()
            if name not in STEPS:
                raise sspot.error(f"unknown step '{name}' (steps: {', '.join(sorted(STEPS))})")
            cls = STEPS[name]
            p = Params(name, params, cls.shorthand, sspot, set(known), self.options)
            when = p.boolean("when", True)
            step = cls(p)
            p.done()
            known |= set(step.produces)
            out.append((step, when))
        return out

    def _output(self, raw: object, spot: Spot, known: set[str]) -> tuple[str, dict]:
        if not isinstance(raw, YDict):
            raise spot.error("output: expected a mapping with format and the format strings")
        fmt = raw.get("format")
        if fmt not in OUTPUTS:
            raise spot.at(raw.line_of("format")).error(f"output.format: expected one of {', '.join(OUTPUTS)}, "
                                                       f"got {fmt!r}")
        if fmt == "tsv":
            extra = [k for k in raw if k not in ("format", "id", "source", "target")]
            if extra:
                raise spot.at(raw.line_of(extra[0])).error(f"output: unknown key '{extra[0]}' (tsv takes id, source, "
                                                           "target)")
            for key in ("id", "source", "target"):
                if key not in raw:
                    raise spot.error(f"output: tsv needs '{key}'")
            return fmt, {k: Format(raw[k], spot.at(raw.line_of(k)), known, f"output.{k}")
                         for k in ("id", "source", "target")}
        extra = [k for k in raw if k not in ("format", "record")]
        if extra:
            raise spot.at(raw.line_of(extra[0])).error(f"output: unknown key '{extra[0]}' ({fmt} takes record)")
        record = raw.get("record")
        if not isinstance(record, YDict) or not record:
            raise spot.error(f"output: {fmt} needs `record:` (output key: format string)")
        return fmt, {k: Format(v, spot.at(record.line_of(k)), known, f"output.record.{k}") if isinstance(v, str)
                     else v for k, v in record.items()}

    @property
    def holds_out(self) -> bool:
        """Whether a holdout step will send records to the holdout output (it is on and has a fraction)."""
        return any(getattr(s, "fraction", None) is not None and when for s, when in self.steps)

    # ---- running -----------------------------------------------------------------------------------------------------

    def read(self, inputs: list[PathArg], state: RunState) -> list[Record]:
        """The input files' records with their fields read (records whose fields cannot be used are skipped)."""
        out = []
        for obj, where in raw_records(self.source, self.records_path, [Path(p) for p in inputs], state):
            record = Record({}, where)
            if self.source != "squad" and not isinstance(obj, dict):
                state.skips.add("record is not an object", where)
                continue
            for spec in self.fields:
                value = spec.read(obj, record)
                if isinstance(value, SkipRecord):
                    state.skips.add(str(value), record.ident())
                    break
                record.values[spec.name] = value
            else:
                out.append(record)
        return out

    def convert(self, inputs: list[PathArg]) -> tuple[dict[str, list], RunState]:
        """({"output": rows, "holdout": rows}, the run's skips and notes). Rows are Examples (tsv) or dicts."""
        state = RunState()
        records = self.read(inputs, state)
        for step, when in self.steps:
            if when:
                records = step.run(records, state)
        rows: dict[str, list] = {"output": [], "holdout": []}
        for r in records:
            row = self._row(r)
            if isinstance(row, SkipRecord):
                state.skips.add(str(row), r.ident())
            else:
                rows[r.split].append(row)
        return rows, state

    def _row(self, r: Record) -> Any:
        values = {k: (f(r.values, r) if isinstance(f, Format) else f) for k, f in self.out_fields.items()}
        if self.out_format != "tsv":
            return values
        row = Example(values["id"], values["source"], values["target"])
        try:
            format_row(row)
        except ValueError:
            empty = [k for k in ("id", "source", "target") if not values[k].strip()]
            return SkipRecord(f"empty {empty[0]}" if empty else
                               "a tab or line break in the TSV row (clean the field first)")
        return row

    def write(self, outputs: dict) -> dict[str, int]:
        """Write {path: rows} in the output format, all files or (on an error) none. Returns rows per path."""
        counts = {}
        with contextlib.ExitStack() as stack:
            for path, rows in outputs.items():
                f = stack.enter_context(atomic_write(path))
                if self.out_format == "tsv":
                    f.writelines(format_row(r) for r in rows)
                elif self.out_format == "json":
                    json.dump(rows, f, ensure_ascii=False, indent=2)
                    f.write("\n")
                else:
                    f.writelines(json.dumps(r, ensure_ascii=False) + "\n" for r in rows)
                counts[str(path)] = len(rows)
        return counts


def load_template(path: PathArg, overrides: dict | None = None) -> Template:
    """The checked template at `path`, options overridden by `overrides` ({name: value})."""
    return Template(path, overrides)
