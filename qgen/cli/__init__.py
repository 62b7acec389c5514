"""`qgen <command>`: a dispatcher to each command module's `main(argv)`; bad input prints `error: …`, never a traceback."""

from __future__ import annotations

import difflib
import importlib
import sys

from qgen.cli.parser import invoked_as, quiet_broken_pipe, reports_input_errors

COMMANDS = {
    "train": ("qgen.cli.train", "fine-tune a model (same as train.py)"),
    "predict": ("qgen.cli.predict", "predict over files (same as predict.py)"),
    "generate": ("qgen.cli.generate", "generate for one input (same as generate.py)"),
    "prepare": ("qgen.cli.prepare", "any data file → TSV / instruction JSON / JSONL with a YAML template"),
    "prepare-jsquad": ("qgen.cli.prepare_jsquad", "SQuAD-layout JSON → QA / AQG / AQG-HL TSV"),
    "prepare-quiz": ("qgen.cli.prepare_quiz", "JAQKET / JCommonsenseQA → 5-choice instruction JSON"),
    "prepare-korquad": ("qgen.cli.prepare_korquad", "KorQuAD → instruction-prompt JSONL"),
    "download": ("qgen.cli.download", "fetch the official data files (or copy from QGEN_DATA_MIRROR)"),
    "eval": ("qgen.cli.eval", "score a predictions JSONL and write a report"),
    "index": ("qgen.cli.index", "build / query a local BM25 index"),
    "quiz": ("qgen.cli.quiz", "multiple-choice quiz scoring ([eval]), gate tuning (tune-gate), model sweeps (sweep)"),
    "convert-config": ("qgen.cli.convert_config", "an Axolotl YAML → the equivalent qgen config (prints the mapping)"),
    "merge": ("qgen.cli.merge", "merge a LoRA adapter into a full model"),
    "serve": ("qgen.cli.serve", "the question-generation playground in the browser and its JSON API"),
    "build-model": ("qgen.cli.build_model", "an untrained model + tokenizer trained on your texts (a recipe's first "
                    "step)"),
    "export": ("qgen.cli.export", "a checkpoint → a small shippable directory (fp16 weights, loads as fp32)"),
    "demo": ("qgen.cli.demo", "fine-tune qgen-small-ja on JSQuAD and score it before and after, on a CPU in minutes"),
}

MOVED = {"summarize": "predict --task summarize", "instruct": "predict --task instruct"}  # tasks, not commands


def run(module: str, argv: list[str] | None, prog: str | None = None) -> int:
    """Run a command's `main`, turning QgenInputError into a one-line message and exit code 2 (and an OSError, Ctrl-C
    or a closed stdout as qgen.cli.parser.reports_input_errors says); `prog` (`qgen eval`) is the name its --help and
    errors show."""
    with invoked_as(prog):
        return reports_input_errors(importlib.import_module(module).main)(argv) or 0


def main(argv: list[str] | None = None) -> int:
    """`qgen <command> …`: run the command, or list the commands (an unknown one: a suggestion and exit 2)."""
    argv = sys.argv[1:] if argv is None else argv
    with quiet_broken_pipe():
        if argv and argv[0] in COMMANDS:
            return run(COMMANDS[argv[0]][0], argv[1:], prog=f"qgen {argv[0]}")
        lines = [f"  {name:<16} {help_}" for name, (_, help_) in COMMANDS.items()]
        usage = "usage: qgen <command> [options]\n\ncommands:\n" + "\n".join(lines)
        if not argv or argv[0] in ("-h", "--help"):
            print(usage)
            return 0 if argv else 2
        close = [MOVED[argv[0]]] if argv[0] in MOVED else difflib.get_close_matches(argv[0], list(COMMANDS), n=1)
        hint = f" (did you mean qgen {close[0]}?)" if close else ""
        print(f"error: unknown command {argv[0]!r}{hint}; the commands: {', '.join(COMMANDS)}\nsee qgen --help",
              file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
