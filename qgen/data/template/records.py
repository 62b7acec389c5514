"""Pieces every part of a conversion template uses: YAML that remembers line numbers, the error that names a template
line and a record, format strings checked against the fields known at their place in the template, and the record.

Line numbers are kept so that every template mistake — found when the template loads (unknown field, bad format
string, unknown step or parameter) or while it runs (a record without a key the template reads) — is one line naming
where to fix it: `tpl.yaml, line 12, record in.json line 5 (id '8939'): …`.
"""

from __future__ import annotations

import re
import string
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from qgen.core import yaml_file
from qgen.core.errors import PathArg, QgenInputError
from qgen.data.jsonfile import read_text


class YDict(dict):
    """A YAML mapping that remembers its own line and each key's line."""

    def __init__(self, line: int = 0):
        super().__init__()
        self.line = line
        self.key_lines: dict = {}

    def line_of(self, key: object) -> int:
        """The key's line (the mapping's own when the key is absent): where an error about it points."""
        return self.key_lines.get(key, self.line)


class YList(list):
    """A YAML sequence that remembers its own line and each item's line."""

    def __init__(self, line: int = 0):
        super().__init__()
        self.line = line
        self.item_lines: list[int] = []

    def line_of(self, index: int) -> int:
        """The item's line (the sequence's own when out of range): where an error about it points."""
        return self.item_lines[index] if 0 <= index < len(self.item_lines) else self.line


class _Loader(yaml_file.SafeLoader):  # duplicate keys are checked below too, where each key's line is kept
    pass


def _construct_map(loader: _Loader, node: yaml.MappingNode) -> Iterator[YDict]:
    data = YDict(node.start_mark.line + 1)
    yield data
    loader.flatten_mapping(node)
    for key_node, value_node in node.value:
        key = loader.construct_object(key_node, deep=True)
        if isinstance(key, (list, dict)):
            raise yaml.constructor.ConstructorError(None, None, "a key must be a plain value", key_node.start_mark)
        if key in data:
            raise yaml.constructor.ConstructorError(None, None, f"duplicate key {key!r}", key_node.start_mark)
        data[key] = loader.construct_object(value_node, deep=True)
        data.key_lines[key] = key_node.start_mark.line + 1


def _construct_seq(loader: _Loader, node: yaml.SequenceNode) -> Iterator[YList]:
    data = YList(node.start_mark.line + 1)
    yield data
    for item in node.value:
        data.append(loader.construct_object(item, deep=True))
        data.item_lines.append(item.start_mark.line + 1)


_Loader.add_constructor("tag:yaml.org,2002:map", _construct_map)
_Loader.add_constructor("tag:yaml.org,2002:seq", _construct_seq)


def load_yaml(path: PathArg) -> Any:
    """The YAML document at `path` with YDict/YList containers; a syntax error names its line."""
    return yaml_file.load(read_text(path), path, _Loader)


@dataclass(frozen=True)
class Spot:
    """A line of the template; errors found there name it (and the record, when one is being converted)."""

    path: Path
    line: int | None = None

    def at(self, line: int | None) -> Spot:
        """The same template, another line: each section and step reports its own."""
        return Spot(self.path, line)

    def error(self, message: str, record: Record | None = None) -> QgenInputError:
        """The error to raise, naming this line and the record, so the user knows what to fix where."""
        return QgenInputError(message, path=self.path, line=self.line, record=record.label() if record else None)


@dataclass
class Record:
    """One record on its way through the template: named values, where it came from, and which output it goes to."""

    values: dict
    where: str  # e.g. "data/in.json line 5", for messages
    split: str = "output"  # "output", or "holdout" once a holdout step moved it

    def ident(self) -> str:
        """The record's id (for skip lists), else where it came from."""
        value = self.values.get("id")
        return str(value) if isinstance(value, (str, int)) and str(value).strip() else self.where

    def label(self) -> str:
        """Where the record came from and its id, for error messages."""
        ident = self.values.get("id")
        return f"{self.where} (id {ident!r})" if isinstance(ident, (str, int)) and str(ident).strip() else self.where

    def get(self, name: str, spot: Spot) -> Any:
        """The value of field `name`; a record without it (a step that was switched off made it) is an error."""
        try:
            return self.values[name]
        except KeyError:
            raise spot.error(f"the record has no field '{name}' (was the step that makes it switched off?)",
                             self) from None


_ROOT_SEP = re.compile(r"[.\[]")  # `{a.b}` / `{a[0]}` name the field a


class Format:
    """A str.format template (`"answer: {answer} context: {context}"`) checked when the template loads: every
    placeholder must name a field known at that point, so a typo is reported once, with its line, before any record
    is read."""

    def __init__(self, text: object, spot: Spot, known: set[str], what: str):
        self.spot, self.what = spot, what
        if not isinstance(text, str):
            raise spot.error(f"{what}: expected a format string, got {type(text).__name__}")
        try:
            parsed = list(string.Formatter().parse(text))
        except ValueError as e:
            raise spot.error(f"{what}: bad format string {text!r}: {e} (write {{{{ and }}}} for literal braces)"
                             ) from None
        for _, name, spec, _ in parsed:
            if name is None:
                continue
            root = _ROOT_SEP.split(name, maxsplit=1)[0]
            if not root or root.isdigit():
                raise spot.error(f"{what}: placeholder {{{name}}} must name a field")
            if root not in known:
                raise spot.error(f"{what}: unknown field '{root}' (known here: {', '.join(sorted(known))})")
            if spec and "{" in spec:
                Format(spec, spot, known, what)
        self.text = text

    def __call__(self, values: dict, record: Record) -> str:
        try:
            return self.text.format_map(values)
        except KeyError as e:
            raise self.spot.error(f"{self.what}: the record has no field {e}", record) from None
        except (IndexError, ValueError, TypeError, AttributeError) as e:
            raise self.spot.error(f"{self.what}: cannot format {self.text!r}: {e}", record) from None
