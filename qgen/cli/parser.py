"""The argument parser every qgen command uses, and the name a command is shown under.

Abbreviations are off: with prefix matching `--out x` would be taken for `--output` or `--output-dir`, whichever the
command has, and a guess at a path flag can write where nobody asked. An error is one `error:` line — with "did you
mean --train-file?" when a flag is close to a real one (difflib) — then `see train.py --help`, not the whole usage.

A command reached through `qgen <name>` or `predict.py --task quiz` names itself that way in `--help` and in errors:
the dispatcher wraps the call in `invoked_as(...)`, and each command's top-level parser takes `command_prog(default)`.

Flag types checked when the flags are read, before any work: every `type=float` is finite (`--lr nan` would train on
NaN), `seed` is one numpy and torch both take, and `output_file` / `output_dir` can be written (a path inside a file,
a directory where a file is meant, …), so a command does not find out after its work is done.
"""

from __future__ import annotations

import argparse
import contextlib
import difflib
import functools
import math
import os
import re
import sys
import typing
from collections.abc import Callable, Iterable, Iterator, Sequence
from contextlib import contextmanager
from contextvars import ContextVar
from pathlib import Path

from qgen.core.errors import QgenInputError, os_error_message
from qgen.core.outputs import output_problem
from qgen.core.threads import MAX_THREADS, THREADS_HELP, check_threads
from qgen.core.values import SEED_MAX

CommandMain = typing.TypeVar("CommandMain", bound=Callable[..., int])  # a command's `main(argv=None) -> int`
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


def reports_input_errors(main: CommandMain) -> CommandMain:
    """Decorator for a command's `main(argv)`: bad input (QgenInputError) becomes one `error: …` line on stderr and
    exit code 2, never a traceback — the same whether the command runs as `qgen X`, as a script or from Python. A
    failed read or write (OSError: a full disk, a permission) is one line and exit 1; Ctrl-C is `interrupted` and
    130; output cut short by a closed pipe (`… --help | head`) ends quietly."""

    @functools.wraps(main)
    def wrapped(argv: list[str] | None = None) -> int:
        """`main(argv)` with its bad input, failed I/O and Ctrl-C turned into one line and an exit code."""
        with quiet_broken_pipe():
            try:
                return main(argv)
            except QgenInputError as e:
                print(f"error: {e}", file=sys.stderr)
                return 2
            except KeyboardInterrupt:
                print("interrupted", file=sys.stderr)
                return 130
            except OSError as e:
                if isinstance(e, BrokenPipeError):
                    raise
                print(f"error: {os_error_message(e)}", file=sys.stderr)
                return 1

    return typing.cast(CommandMain, wrapped)


@contextmanager
def quiet_broken_pipe() -> Iterator[None]:
    """Stdout closed by its reader (`qgen --help | head`): stop quietly, with no BrokenPipeError traceback now or
    when Python flushes stdout at exit (stdout is pointed at /dev/null, as the Python docs advise; exit code 1)."""
    try:
        try:
            yield
        finally:
            sys.stdout.flush()  # inside the block: a SystemExit from --help is flushed here, not at exit
    except BrokenPipeError:
        with contextlib.suppress(OSError, ValueError):
            os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        sys.exit(1)


def finite_float(text: str) -> float:
    """argparse's float without NaN and infinities (no setting means them; `--lr nan` trained on NaN)."""
    value = float(text)
    if not math.isfinite(value):
        raise argparse.ArgumentTypeError(f"{text!r}: expected a finite number")
    return value


def seed(text: str) -> int:
    """argparse `type=` of a seed: an int numpy and torch both take (0 … 2**32-1)."""
    value = int(text)
    if not 0 <= value <= SEED_MAX:
        raise argparse.ArgumentTypeError(f"{text!r}: a seed is between 0 and {SEED_MAX}")
    return value


def output_file(text: str) -> Path:
    """argparse `type=` of a flag naming a file to write: checked when the flags are parsed, before any work
    (qgen.core.outputs.output_problem: a directory, a parent that is a file, not writable, a full disk)."""
    return _output(text, directory=False)


def output_dir(text: str) -> Path:
    """argparse `type=` of a flag naming a directory to create or fill, checked as `output_file` is."""
    return _output(text, directory=True)


def _output(text: str, directory: bool) -> Path:
    problem = output_problem(text, directory)
    if problem:
        raise argparse.ArgumentTypeError(f"{text!r}: cannot write here: {problem}")
    return Path(text)


def thread_count(text: str) -> int:
    """argparse type of `--threads`: 0 (from the machine's load) or 1 to MAX_THREADS, else one `error:` line."""
    try:
        n = int(text)
        check_threads(n)
    except ValueError:
        raise argparse.ArgumentTypeError(f"must be 0 (chosen from the machine's load) or 1 to {MAX_THREADS}, "
                                         f"got {text!r}") from None
    return n


def add_threads_arg(p: argparse._ActionsContainer) -> None:
    """`--threads N` on a parser or argument group: the same flag, type and help in every command."""
    p.add_argument("--threads", type=thread_count, default=0, metavar="N", help=THREADS_HELP)


def command_prog(default: str) -> str:
    """The name the running command was invoked as, else `default` (its script name)."""
    return _PROG.get() or default


class HelpFormatter(argparse.ArgumentDefaultsHelpFormatter, argparse.RawDescriptionHelpFormatter):
    """Defaults shown beside each flag; the description and epilog keep their own line breaks."""


class ArgumentParser(argparse.ArgumentParser):
    """argparse without abbreviations, defaults shown in --help, and errors as one `error:` line with a suggestion."""

    def __init__(self, *args: typing.Any, **kwargs: typing.Any):
        kwargs.setdefault("allow_abbrev", False)
        kwargs.setdefault("formatter_class", HelpFormatter)
        super().__init__(*args, **kwargs)
        self.register("type", float, finite_float)  # every `type=float` flag: NaN passes every range check

    def parse_known_args(self, args: Iterable[str] | None = None, namespace: typing.Any = None
                         ) -> tuple[typing.Any, list[str]]:
        """argparse's, remembering the words given so that an error can suggest the flag a misspelt one meant."""
        self._given = list(sys.argv[1:] if args is None else args)  # for suggestions in error()
        return super().parse_known_args(args, namespace)

    def error(self, message: str) -> typing.NoReturn:
        """One line `error: …` (plus a suggestion for a misspelt flag or choice), then where the help is; exit 2."""
        hint = suggestion(message, self, getattr(self, "_given", []))
        self.exit(2, f"error: {message}{hint}\nsee {self.prog} --help\n")


def _options(parser: argparse.ArgumentParser) -> list[str]:
    """Every long flag of `parser` and of its sub-commands (argparse reports their unknown flags at the top)."""
    out = []
    for action in parser._actions:
        out += [o for o in action.option_strings if o.startswith("--")]
        if isinstance(action, argparse._SubParsersAction):
            out += [o for sub in action.choices.values() for o in _options(sub)]
    return out


def _close(word: str, candidates: list[str]) -> str | None:
    """The flag `word` is a prefix of (offered as a suggestion, never taken), else the closest one."""
    prefixed = [c for c in candidates if c.startswith(word)]
    if len(prefixed) == 1:
        return prefixed[0]
    found = difflib.get_close_matches(word, candidates, n=1, cutoff=0.6)
    return found[0] if found else None


def suggestion(message: str, parser: argparse.ArgumentParser, given: Sequence[str] = ()) -> str:
    """` (did you mean --x?)` for an unknown flag or an invalid choice; for any other error (e.g. a required flag
    missing because it was misspelt) ` (--wiht: did you mean --with?)` for each unknown flag in `given`; else ""."""
    options = _options(parser)
    if message.startswith("unrecognized arguments:"):
        flags = [w.split("=")[0] for w in message.split(":", 1)[1].split() if w.startswith("--")]
        close = [c for f in flags if (c := _close(f, options))]
        return f" (did you mean {', '.join(dict.fromkeys(close))}?)" if close else ""
    m = re.match(r"argument .*: invalid choice: '(.*?)' \(choose from (.*)\)$", message)
    if m:
        choices = re.findall(r"'([^']*)'", m.group(2)) or [c.strip() for c in m.group(2).split(",")]
        choice = _close(m.group(1), choices)
        return f" (did you mean {choice}?)" if choice else ""
    unknown = dict.fromkeys(w.split("=")[0] for w in given if w.startswith("--") and w.split("=")[0] not in options)
    typos = [f"{f}: did you mean {c}?" for f in unknown if (c := _close(f, options))]
    return f" ({'; '.join(typos)})" if typos else ""
