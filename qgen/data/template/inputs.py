"""The input side of a conversion template (qgen.data.template): the input formats, the `fields:` section (where each
named field is in a raw record, with its type and what to do when it is missing) and reading the raw records of each
input file.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from qgen.core.errors import QgenInputError
from qgen.data.jsonfile import load_json, load_records, read_text
from qgen.data.squad import read_squad_files
from qgen.data.template.records import Record, Spot, YDict
from qgen.data.template.step_base import RunState

SOURCES = ("squad", "json", "jsonl", "csv", "tsv")
SQUAD_FIELDS = ("id", "question", "answer", "answer_start", "context", "title")
_TYPES = {"str": (str,), "int": (int,), "float": (float, int), "bool": (bool,), "list": (list,), "dict": (dict,)}


class _Missing(Exception):
    """A dotted path that does not exist in a record: the part that was not found."""


def _walk(obj: Any, path: str) -> Any:
    """The value at a dotted path: dict keys (a key with dots is tried whole first) and list indices."""
    if isinstance(obj, dict) and path in obj:
        return obj[path]
    for part in path.split("."):
        if isinstance(obj, dict) and part in obj:
            obj = obj[part]
        elif isinstance(obj, list) and part.lstrip("-").isdigit() and -len(obj) <= int(part) < len(obj):
            obj = obj[int(part)]
        else:
            raise _Missing(part)
    return obj


@dataclass
class FieldSpec:
    """How one named field is read from a raw record."""

    name: str
    path: str | None  # dotted path, or None with `each`
    each: str | None  # "choice{n}": consecutive keys collected into a list
    missing: str  # error | skip | default
    default: object
    types: tuple[str, ...]
    spot: Spot

    def read(self, obj: Any, record: Record) -> Any:
        """The value, or a SkipRecord; a missing key with `missing: error` is a template error naming the record."""
        try:
            if self.each is None:
                assert self.path is not None  # parse_fields gives one of path and each
                value = _walk(obj, self.path)
            else:
                value, n = [], 0
                while True:
                    try:
                        value.append(_walk(obj, self.each.format(n=n)))
                    except _Missing:
                        if n == 0:
                            raise
                        break
                    n += 1
        except _Missing:
            key = self.path if self.path is not None else str(self.each).format(n=0)
            if self.missing == "default":
                return self.default
            if self.missing == "skip":
                return SkipRecord(f"missing key '{key}'")
            raise self.spot.error(f"field '{self.name}': the record has no key '{key}' (add `missing: skip` or "
                                  f"`default:` to the field if some records lack it)", record) from None
        if self.types:
            items = value if self.each is not None else [value]
            for item in items:
                if not any(_is_type(item, t) for t in self.types):
                    return SkipRecord(f"'{self.path or self.each}' is not {' or '.join(self.types)}")
        return value


class SkipRecord(str):
    """A field value that means: skip the record for this reason."""


def _is_type(value: object, name: str) -> bool:
    if name == "list[str]":
        return isinstance(value, list) and all(isinstance(v, str) for v in value)
    if isinstance(value, bool) and name != "bool":
        return False
    return isinstance(value, _TYPES[name])


def parse_fields(raw: object, spot: Spot, source: str) -> list[FieldSpec]:
    """The `fields:` section, checked: one FieldSpec a named field."""
    if not isinstance(raw, YDict) or not raw:
        raise spot.error("fields: expected a mapping name: path")
    out = []
    for name, spec in raw.items():
        fspot = spot.at(raw.line_of(name))
        if not isinstance(name, str) or not name.isidentifier():
            raise fspot.error(f"fields: {name!r} is not a field name (letters, digits, _)")
        if isinstance(spec, str):
            spec = {"path": spec}
        if not isinstance(spec, dict):
            raise fspot.error(f"field '{name}': expected a path or a mapping with path/each")
        extra = [k for k in spec if k not in ("path", "each", "missing", "default", "type")]
        if extra:
            raise fspot.error(f"field '{name}': unknown key '{extra[0]}' (keys: path, each, missing, default, type)")
        path, each = spec.get("path"), spec.get("each")
        if (path is None) == (each is None) or not isinstance(path or each, str):
            raise fspot.error(f"field '{name}': give a path (text), or `each: \"key{{n}}\"`")
        if each is not None and "{n}" not in each:
            raise fspot.error(f"field '{name}': each must contain {{n}} (e.g. \"choice{{n}}\")")
        if source == "squad" and path not in SQUAD_FIELDS:
            raise fspot.error(f"field '{name}': squad records have {', '.join(SQUAD_FIELDS)}; not {path!r}")
        missing = spec.get("missing", "default" if "default" in spec else "error")
        if missing not in ("error", "skip", "default"):
            raise fspot.error(f"field '{name}': missing must be error, skip or default")
        types = spec.get("type") or ()
        types = (types,) if isinstance(types, str) else tuple(types)
        for t in types:
            if t not in _TYPES and t != "list[str]":
                raise fspot.error(f"field '{name}': unknown type {t!r} (types: {', '.join(_TYPES)}, list[str])")
        out.append(FieldSpec(name, path, each, missing, spec.get("default"), types, fspot))
    return out


def raw_records(source: str, records_path: str | None, inputs: list[Path],
                state: RunState) -> Iterator[tuple[Any, str]]:
    """(raw record, where) of each input file, in the `input:` format (squad records as dicts of SQUAD_FIELDS)."""
    if source == "squad":
        questions, skips = read_squad_files(inputs)
        state.skips.merge(skips)
        for q in questions:
            yield {k: getattr(q, k) for k in SQUAD_FIELDS}, q.position
        return
    for path in inputs:
        if source in ("csv", "tsv"):
            yield from table_rows(path, "\t" if source == "tsv" else ",", state)
        elif records_path is not None:
            doc = load_json(path)
            try:
                items = _walk(doc, records_path)
            except _Missing:
                raise QgenInputError(f"no '{records_path}' in the document (input.records)", path=path) from None
            if not isinstance(items, list):
                raise QgenInputError(f"'{records_path}' is not a list (input.records)", path=path)
            yield from ((obj, f"{path} {records_path}[{i}]") for i, obj in enumerate(items))
        else:
            rows, unit = load_records(path)
            yield from ((obj, f"{path} {unit} {n}") for n, obj in rows)


def table_rows(path: Path, delimiter: str, state: RunState) -> Iterator[tuple[dict[str, str], str]]:
    """CSV/TSV rows as {header: value}; a row with another number of cells than the header is skipped."""
    reader = csv.reader(io.StringIO(read_text(path), newline=""), delimiter=delimiter)
    try:
        header = next(reader)
    except StopIteration:
        raise QgenInputError("empty file (a header row is needed)", path=path) from None
    except csv.Error as e:
        raise QgenInputError(f"malformed header: {e}", path=path, line=1) from None
    while True:
        try:
            cells = next(reader)
        except StopIteration:
            return
        except csv.Error as e:
            raise QgenInputError(f"malformed row: {e}", path=path, line=reader.line_num) from None
        where = f"{path} line {reader.line_num}"
        if not any(c.strip() for c in cells):
            continue
        if len(cells) != len(header):
            state.skips.add(f"{len(cells)} cells, the header has {len(header)}", where)
            continue
        yield dict(zip(header, cells)), where
