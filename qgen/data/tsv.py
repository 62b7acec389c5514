"""Writing `{id}\\t{source}\\t{target}` TSV rows that `qgen.data.examples.read_tsv` reads back unchanged.

`clean` is the only text preparation: qgen.core.text.normalize plus replacing the characters that would break a TSV row or
a line-based reader (tab, and the separators Python's str.splitlines also treats as line ends) with a space.
The writer itself never rewrites text: a field that would break the row is a bug in the caller and raises ValueError.
"""

from __future__ import annotations

import contextlib
import re
from collections.abc import Iterable, Mapping

from qgen.core.errors import PathArg
from qgen.core.files import atomic_write
from qgen.core.text import normalize
from qgen.data.examples import Example

__all__ = ["clean", "format_row", "write_tsv", "write_tsv_files"]

# Tab, plus the C0/C1 separators str.splitlines() splits on that normalize() does not remove.
_ROW_BREAKERS_RE = re.compile(r"[\t\x1c\x1d\x1e\x1f]")
_FORBIDDEN = set("\t\n\r\x0b\x0c\x1c\x1d\x1e\x1f\x85\u2028\u2029")


def clean(text: str, lang: str = "ja") -> str:
    """normalize(text), stripped, with tabs and record separators turned into spaces first (as neologdn treats spaces).

    Stripped because normalize keeps the spaces of `" [SEP] "` at the edges (normalize("[SEP] x") == " [SEP] x").
    """
    return normalize(_ROW_BREAKERS_RE.sub(" ", text), lang).strip()


def format_row(row: Example) -> str:
    """One TSV line (with "\\n") from an Example or an (id, source, target) tuple; ValueError if a field cannot be written."""
    fields = (row.id, row.source, row.target) if isinstance(row, Example) else tuple(row)
    if len(fields) != 3:
        raise ValueError(f"a TSV row needs 3 fields (id, source, target), got {len(fields)}")
    for name, value in zip(("id", "source", "target"), fields):
        if not isinstance(value, str):
            raise ValueError(f"TSV field {name} must be a string, got {type(value).__name__}")
        if not value.strip():
            raise ValueError(f"TSV field {name} is empty (row {fields[0]!r})")
        bad = _FORBIDDEN.intersection(value)
        if bad:
            raise ValueError(f"TSV field {name} of row {fields[0]!r} contains {sorted(bad)!r}; clean() it first")
    return "\t".join(fields) + "\n"


def write_tsv_files(outputs: Mapping[PathArg, Iterable[Example]]) -> dict[str, int]:
    """Write several TSV files together: all appear, or (on any error) none is replaced. Returns rows per path."""
    counts: dict[str, int] = {}
    with contextlib.ExitStack() as stack:
        for path, rows in outputs.items():
            f = stack.enter_context(atomic_write(path))
            n = 0
            for row in rows:
                f.write(format_row(row))
                n += 1
            counts[str(path)] = n
    return counts


def write_tsv(path: PathArg, rows: Iterable[Example]) -> int:
    """Write rows atomically; returns the number written."""
    return write_tsv_files({path: rows})[str(path)]
