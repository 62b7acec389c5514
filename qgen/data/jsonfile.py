"""Load a JSON document or JSON-lines file, turning every decoding problem into a QgenInputError with a position.

Accepts a UTF-8 BOM and CRLF line ends (both common in files saved on Windows).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from qgen.core.errors import PathArg, QgenInputError


def require_file(path: PathArg, field: str | None = None) -> Path:
    """`path` as a Path when it names a regular file; else a QgenInputError saying what is wrong (missing, a
    directory, a device or FIFO: /dev/zero would be read forever, a FIFO waits for a writer)."""
    path = Path(path)
    if path.is_dir():
        raise QgenInputError("is a directory, expected a file", path=path, field=field)
    if path.exists() and not path.is_file():
        raise QgenInputError("not a regular file (a device, FIFO or socket), expected a file", path=path, field=field)
    if not path.is_file():
        raise QgenInputError("file not found", path=path, field=field)
    return path


def read_text(path: PathArg) -> str:
    """The file's text (BOM removed); a missing or not regular file or bad UTF-8 is a QgenInputError naming it."""
    path = require_file(path)
    try:
        data = path.read_bytes()
    except FileNotFoundError:
        raise QgenInputError("file not found", path=path) from None
    except IsADirectoryError:
        raise QgenInputError("is a directory, expected a file", path=path) from None
    except OSError as e:
        raise QgenInputError(f"cannot read: {e.strerror}", path=path) from None
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError as e:
        line = data[: e.start].count(b"\n") + 1
        raise QgenInputError(f"not UTF-8 (byte offset {e.start})", path=path, line=line) from None


def load_json(path: PathArg) -> Any:
    """Parse one JSON document; a syntax error names line and column."""
    text = read_text(path)
    if not text.strip():
        raise QgenInputError("empty file", path=path)
    try:
        return json.loads(text)
    except json.JSONDecodeError as e:
        raise QgenInputError(f"malformed JSON (column {e.colno}): {e.msg}", path=path, line=e.lineno) from None
    except RecursionError:
        raise too_deep(path) from None


def load_records(path: PathArg) -> tuple[list[tuple[int, object]], str]:
    """Records of a JSON list or of JSON lines, as ([(position, record)], unit) with unit "record" or "line".

    Position is the 1-based index in the list, or the line number for JSON lines, for error messages.
    """
    text = read_text(path)
    if not text.strip():
        raise QgenInputError("empty file", path=path)
    if text.lstrip().startswith("["):
        try:
            data = json.loads(text)
        except json.JSONDecodeError as e:
            raise QgenInputError(f"malformed JSON (column {e.colno}): {e.msg}", path=path, line=e.lineno) from None
        except RecursionError:
            raise too_deep(path) from None
        return list(enumerate(data, 1)), "record"
    rows = []
    for lineno, line in enumerate(text.split("\n"), 1):
        if not line.strip():
            continue
        try:
            rows.append((lineno, json.loads(line)))
        except json.JSONDecodeError as e:
            raise QgenInputError(f"malformed JSON line (column {e.colno}): {e.msg}", path=path, line=lineno) from None
        except RecursionError:
            raise too_deep(path, lineno) from None
    return rows, "line"


def too_deep(path: PathArg, line: int | None = None) -> QgenInputError:
    """Python's JSON parser recurses once per nesting level: a document nested beyond its limit is refused."""
    return QgenInputError("malformed JSON: nested too deeply (lists / objects inside each other beyond Python's "
                          "recursion limit)", path=path, line=line)
