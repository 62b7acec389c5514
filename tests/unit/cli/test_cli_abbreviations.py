"""Every qgen command refuses an abbreviated flag (`qgen build-model --out d` is not `--output d`) with one `error:`
line and exit 2. The commands come from the registry: `qgen.cli.COMMANDS`, their argparse sub-commands (`index
build`), `qgen quiz`'s SUBCOMMANDS and the tasks predict.py / generate.py hand on (qgen.cli.tasks.ROUTED)."""

from __future__ import annotations

import argparse

import pytest

from qgen.cli import COMMANDS, main, quiz, tasks
from qgen.cli.parser import ArgumentParser, finite_float, seed, thread_count

NUMERIC = (int, float, finite_float, seed, thread_count)


class _Parsed(Exception):
    """Raised instead of parsing: carries the parser a command line reached."""

    def __init__(self, parser: argparse.ArgumentParser):
        super().__init__(parser.prog)
        self.parser = parser


def parser_of(words: list[str], monkeypatch: pytest.MonkeyPatch) -> argparse.ArgumentParser:
    """The parser `qgen *words` parses its flags with (a command not using qgen's strict ArgumentParser: an error)."""

    def stop(self: argparse.ArgumentParser, args: object = None, namespace: object = None) -> None:
        assert isinstance(self, ArgumentParser), f"{' '.join(words)}: parses with argparse's parser, not qgen's"
        raise _Parsed(self)

    with monkeypatch.context() as m:
        m.setattr(argparse.ArgumentParser, "parse_args", stop)  # any parser: none parses, so no command runs
        with pytest.raises(_Parsed) as caught:
            main(words)
    return caught.value.parser


def command_lines(monkeypatch: pytest.MonkeyPatch) -> list[tuple[list[str], argparse.ArgumentParser]]:
    """(the words naming a command, its parser) for every command the registry names, sub-commands and routed tasks
    included."""
    found = []
    heads = [[name] for name in COMMANDS]
    heads += [["quiz", word] for word in quiz.SUBCOMMANDS]
    heads += [[command, "--task", task] for command, routed in tasks.ROUTED.items() for task in routed]
    for words in heads:
        parser = parser_of(words, monkeypatch)
        subs = [a for a in parser._actions if isinstance(a, argparse._SubParsersAction)]
        if subs:
            found += [([*words, word], sub) for word, sub in subs[0].choices.items()]
        else:
            found.append((words, parser))
    return found


def _value(action: argparse.Action, tmp_path) -> list[str]:
    """A value the flag takes: its first choice, a number, or a path that does not exist yet."""
    if action.nargs == 0:
        return []
    if action.choices:
        return [str(next(iter(action.choices)))]
    return ["1"] if action.type in NUMERIC else [str(tmp_path / "x")]


def abbreviation(parser: argparse.ArgumentParser) -> tuple[str, str, argparse.Action]:
    """A prefix of one of the parser's long flags that names no other flag (what argparse's prefix matching would take
    for it), the flag, and its action."""
    flags = {o: a for a in parser._actions for o in a.option_strings if o.startswith("--") and o != "--help"}
    for flag, action in flags.items():
        for end in range(4, len(flag)):
            prefix = flag[:end]
            if prefix not in flags and [f for f in flags if f.startswith(prefix)] == [flag]:
                return prefix, flag, action
    raise AssertionError(f"{parser.prog}: no flag has an unambiguous prefix")


def test_the_registry_names_every_command(monkeypatch):
    names = {" ".join(words) for words, _ in command_lines(monkeypatch)}
    # the commands issue 28 brought under the contract, a sub-command, a quiz sub-command and a routed task
    assert {"demo", "build-model", "export", "index build", "quiz sweep", "predict --task quiz"} <= names


def test_every_command_refuses_an_abbreviated_flag(monkeypatch, tmp_path, capsys):
    refused = []
    for words, parser in command_lines(monkeypatch):
        given = set(words)
        required = [x for a in parser._actions if a.required and not given & set(a.option_strings)
                    for x in (*a.option_strings[:1], *_value(a, tmp_path))]  # positionals too (qgen download's)
        prefix, flag, action = abbreviation(parser)
        abbreviated = "=".join([prefix, *_value(action, tmp_path)])  # `--out=d`: the value cannot pass for a positional
        with pytest.raises(SystemExit) as e:
            main([*words, *required, abbreviated])
        err = capsys.readouterr().err.splitlines()
        assert e.value.code == 2, (words, err)
        assert err[0] == f"error: unrecognized arguments: {abbreviated} (did you mean {flag}?)", err
        assert len(err) == 2 and err[1].startswith("see qgen ") and err[1].endswith(" --help"), err
        refused.append(" ".join([*words, prefix]))
    assert len(refused) >= len(COMMANDS)
    print("\n".join(refused))
    assert list(tmp_path.iterdir()) == []  # nothing ran
