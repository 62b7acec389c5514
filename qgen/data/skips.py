"""Counting skipped records by reason, and the summary every data_prep command prints."""

from __future__ import annotations

import sys
from collections import defaultdict


class Skips:
    """Skipped record ids grouped by reason, in the order they were met."""

    def __init__(self) -> None:
        self.by_reason: dict[str, list[str]] = defaultdict(list)

    def add(self, reason: str, ident: object) -> None:
        """Count a skipped record; its id is kept so the user can look the record up."""
        self.by_reason[reason].append(str(ident))

    def merge(self, other: Skips) -> None:
        """Add another reader's skips (squad files read one by one), so one summary covers the run."""
        for reason, ids in other.by_reason.items():
            self.by_reason[reason].extend(ids)

    def __len__(self) -> int:
        return sum(len(v) for v in self.by_reason.values())

    def counts(self) -> dict[str, int]:
        """Skips per reason, for summaries and tests."""
        return {reason: len(ids) for reason, ids in self.by_reason.items()}

    def ids(self) -> list[str]:
        """Every skipped id, in the order met."""
        return [i for ids in self.by_reason.values() for i in ids]

    def report(self, max_ids: int = 10) -> list[str]:
        """One line per reason: count and the first `max_ids` ids."""
        lines = []
        for reason, ids in self.by_reason.items():
            shown = ", ".join(ids[:max_ids]) + (f", … (+{len(ids) - max_ids} more)" if len(ids) > max_ids else "")
            lines.append(f"  {reason}: {len(ids)} ({shown})")
        return lines


def print_summary(written: dict[str, int], skips: Skips, *, extra: list[str] | None = None, max_ids: int = 10) -> None:
    """`written N to PATH` per output and `skipped M` on stdout; reasons with (truncated) ids on stderr."""
    for path, n in written.items():
        print(f"written {n} to {path}")
    for line in extra or []:
        print(line)
    print(f"skipped {len(skips)}" + (" (reasons on stderr)" if len(skips) else ""))
    print_reasons(skips, max_ids)


def print_reasons(skips: Skips, max_ids: int = 10) -> None:
    """The skip reasons with (truncated) ids, on stderr; nothing when nothing was skipped."""
    if len(skips):
        print("skipped records by reason:", file=sys.stderr)
        for line in skips.report(max_ids):
            print(line, file=sys.stderr)
