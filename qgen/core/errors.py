"""One exception type for bad input, so every entry point can print a clean message instead of a traceback."""

from __future__ import annotations

import errno
import os

PathArg = str | os.PathLike[str]  # what a file argument may be: text from a flag or a Path


class QgenInputError(ValueError):
    """Bad input: names the file, the line or record, and the field."""

    def __init__(self, message: str, *, path: PathArg | None = None, line: int | None = None, record: object = None,
                 field: str | None = None):
        self.path, self.line, self.record, self.field = path, line, record, field
        where = []
        if path is not None:
            where.append(str(path))
        if line is not None:
            where.append(f"line {line}")
        if record is not None:
            where.append(f"record {record}")
        if field is not None:
            where.append(f"field '{field}'")
        self.message = message
        super().__init__(f"{': '.join([', '.join(where), message]) if where else message}")


def os_error_message(e: OSError, writing: PathArg | None = None) -> str:
    """One line for a failed read or write: `no space left on device writing PATH` for a full disk (`writing`: the
    path meant, when the error names none), else `PATH: reason`."""
    path = e.filename if e.filename is not None else writing
    if e.errno == errno.ENOSPC:
        return f"no space left on device writing {path}" if path is not None else "no space left on device"
    reason = e.strerror or str(e) or type(e).__name__
    return f"{path}: {reason}" if path is not None else reason


def yaml_error(path: PathArg | None, e: Exception) -> QgenInputError:
    """A PyYAML error as `PATH, line N: malformed YAML (column C): problem` (its own text says `<unicode string>`
    for a document read as text); a document nested past Python's recursion limit (RecursionError) says so."""
    if isinstance(e, RecursionError):
        return QgenInputError("malformed YAML: nested too deeply", path=path)
    mark = getattr(e, "problem_mark", None) or getattr(e, "context_mark", None)
    problem = " ".join(p for p in (getattr(e, "context", None), getattr(e, "problem", None)) if p) or str(e)
    column = f" (column {mark.column + 1})" if mark else ""
    return QgenInputError(f"malformed YAML{column}: {problem}", path=path, line=mark.line + 1 if mark else None)
