"""Training/inference inputs as plain `Example` records, from the three formats data_prep writes.

- TSV `{id}\t{source}\t{target}`: seq2seq tasks (QA, AQG, AQG-HL); a first row of column names is skipped, said.
- Instruction JSON: a list of `{"instruction", "input"?, "output", "id"?}` objects (quiz data; JSON lines also accepted).
- JSONL `{"text": ...}`: plain causal LM text, the loss covers the whole text (e.g. KorQuAD instruction prompts).
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from qgen.core.errors import PathArg, QgenInputError
from qgen.data.jsonfile import load_records, read_text, require_file

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Example:
    """One training or evaluation row, the same whether it was read from TSV, instructions or plain text."""

    id: str
    source: str  # prompt / encoder input ("" for plain text)
    target: str  # what the loss is computed on
    input: str = ""  # instruction data only: the optional `input` field, kept apart for prompt templates


# Column names a spreadsheet export writes as its first row: never a source and target to learn from.
HEADER_NAMES = frozenset({"source", "target", "input", "output", "question", "answer", "context", "text", "src", "tgt",
                          "prompt", "completion", "instruction", "response", "label"})


def is_header(fields: list[str]) -> bool:
    """A TSV row naming columns (`id  source  target`, `qid  input  output` …) rather than holding an example."""
    return all(f.strip().lower() in HEADER_NAMES for f in fields[1:])


def read_tsv(path: PathArg) -> list[Example]:
    """Read `{id}\\t{source}\\t{target}` rows; a row with another field count is an error naming its line. A first row
    of column names (a header) is skipped with a warning."""
    path = Path(path)
    out = []
    first = True
    for lineno, line in enumerate(read_text(path).split("\n"), 1):  # BOM, bad UTF-8, missing file: named errors
        line = line.rstrip("\r")
        if not line.strip():
            continue
        fields = line.split("\t")
        if len(fields) != 3:
            raise QgenInputError(
                f"expected 3 tab-separated fields (id, source, target), got {len(fields)}", path=path, line=lineno
            )
        if first and is_header(fields):
            log.warning("%s, line %d: a header row (%s), not an example: skipped (1 row)", path, lineno,
                        ", ".join(f.strip() for f in fields))
            first = False
            continue
        first = False
        qid, source, target = fields
        for name, value in (("id", qid), ("source", source), ("target", target)):
            if not value.strip():
                raise QgenInputError("empty field", path=path, line=lineno, field=name)
        out.append(Example(qid, source, target))
    return out


def _str_field(obj: object, key: str, path: Path, where: dict[str, Any], required: bool = True) -> str:
    if not isinstance(obj, dict):
        raise QgenInputError(f"expected an object, got {type(obj).__name__}", path=path, **where)
    value = obj.get(key, None if required else "")
    if value is None:
        raise QgenInputError("missing key", path=path, field=key, **where)
    if not isinstance(value, str):
        raise QgenInputError(f"expected a string, got {type(value).__name__}", path=path, field=key, **where)
    return value


def read_instructions(path: PathArg) -> list[Example]:
    """Read instruction data (`instruction`, optional `input`, `output`, optional `id`) from a JSON list or JSON lines."""
    path = Path(path)
    rows, unit = load_records(path)
    out = []
    for n, obj in rows:
        where = {unit: n}
        instruction = _str_field(obj, "instruction", path, where)
        output = _str_field(obj, "output", path, where)
        if not output.strip():
            raise QgenInputError("empty output", path=path, field="output", **where)
        inp = _str_field(obj, "input", path, where, required=False)
        assert isinstance(obj, dict)  # _str_field refused anything else
        qid = str(obj.get("id", n))
        out.append(Example(qid, instruction, output, inp))
    return out


def read_text_jsonl(path: PathArg) -> list[Example]:
    """Read `{"text": ...}` lines for plain causal LM training."""
    path = Path(path)
    rows, unit = load_records(path)
    out = []
    for n, obj in rows:
        text = _str_field(obj, "text", path, {unit: n})
        if not text.strip():
            raise QgenInputError("empty text", path=path, field="text", **{unit: n})
        assert isinstance(obj, dict)  # _str_field refused anything else
        out.append(Example(str(obj.get("id", n)), "", text))
    return out


def read_examples(path: PathArg) -> list[Example]:
    """Pick the reader from the file: `.tsv` → TSV; JSON whose records have `text` → plain text; else instructions."""
    path = require_file(path)
    if path.suffix.lower() in (".tsv", ".txt"):
        return read_tsv(path)
    rows, _ = load_records(path)
    if not rows:
        raise QgenInputError("no records", path=path)
    first = rows[0][1]
    if isinstance(first, dict) and "text" in first and "instruction" not in first:
        return read_text_jsonl(path)
    return read_instructions(path)
