"""One exception type for bad input, so every entry point can print a clean message instead of a traceback."""

from __future__ import annotations


class QgenInputError(ValueError):
    """Bad input: names the file, the line or record, and the field."""

    def __init__(self, message: str, *, path=None, line: int | None = None, record=None, field: str | None = None):
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
