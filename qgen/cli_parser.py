"""The argument parser every qgen command uses, and the name a command is shown under.

argparse's defaults hurt here: with prefix matching, `predict.py --task quiz --output res.json` silently meant
`--output-dir res.json` (a *directory* named res.json appeared). Abbreviations are therefore off.

A command reached through `qgen <name>` or `predict.py --task quiz` names itself that way in `--help` and in errors:
the dispatcher wraps the call in `invoked_as(...)`, and each command's top-level parser takes `command_prog(default)`.
"""

from __future__ import annotations

import argparse
from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar

_PROG: ContextVar[str | None] = ContextVar("qgen_command_prog", default=None)


@contextmanager
def invoked_as(prog: str | None) -> Iterator[None]:
    """Within the block, command parsers are named `prog` (e.g. "qgen quiz", "predict.py --task quiz"); None: as is."""
    if prog is None:
        yield
        return
    token = _PROG.set(prog)
    try:
        yield
    finally:
        _PROG.reset(token)


def command_prog(default: str) -> str:
    """The name the running command was invoked as, else `default` (its script name)."""
    return _PROG.get() or default


class HelpFormatter(argparse.ArgumentDefaultsHelpFormatter, argparse.RawDescriptionHelpFormatter):
    """Defaults shown beside each flag; the description and epilog keep their own line breaks."""


class ArgumentParser(argparse.ArgumentParser):
    """argparse without abbreviations, with defaults shown in --help."""

    def __init__(self, *args, **kwargs):
        kwargs.setdefault("allow_abbrev", False)
        kwargs.setdefault("formatter_class", HelpFormatter)
        super().__init__(*args, **kwargs)
