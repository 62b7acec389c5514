"""`--task` routing: predict.py and generate.py hand `--task quiz` and `--task summarize|instruct` to the commands
that own those tasks' flags, so each parser knows only its own flags and nobody edits a command line."""

from __future__ import annotations

from qgen.cli import quiz, summarize
from qgen.cli.parser import ArgumentParser, command_prog, invoked_as

ROUTED = {"predict": ("quiz", *summarize.TASKS), "generate": summarize.TASKS}  # command → the tasks it hands on


def requested_task(argv: list[str], script: str) -> str | None:
    """The `--task` of a command line (matched whole, never abbreviated), read before the command's own parser;
    `script` names the command in an error."""
    pre = ArgumentParser(prog=command_prog(script), add_help=False)
    pre.add_argument("--task")
    known, _ = pre.parse_known_args(argv)
    return known.task


def route(command: str, argv: list[str]) -> int | None:
    """Run the command that owns `argv`'s task and return its exit code; None when `command` (predict / generate)
    handles the task itself."""
    script = f"{command}.py"
    task = requested_task(argv, script)
    if task not in ROUTED[command]:
        return None
    if task == "quiz":
        with invoked_as(f"{command_prog(script)} --task quiz"):
            return quiz.main(argv)
    return summarize.predict_main(argv) if command == "predict" else summarize.generate_main(argv)
