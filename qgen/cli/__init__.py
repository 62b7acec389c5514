"""`qgen <command>`: a dispatcher to each command module's `main(argv)`; bad input prints `error: …`, never a traceback."""

from __future__ import annotations

import importlib
import sys

from qgen.cli.parser import invoked_as
from qgen.core.errors import QgenInputError

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
    "merge": ("qgen.cli.merge", "merge a LoRA adapter into a full model"),
    "serve": ("qgen.cli.serve", "the question-generation playground in the browser and its JSON API"),
    "build-model": ("qgen.build_model", "an untrained model + tokenizer trained on your texts (a recipe's first step)"),
    "export": ("qgen.export_model", "a checkpoint → a small shippable directory (fp16 weights, loads as fp32)"),
}


def run(module: str, argv: list[str] | None, prog: str | None = None) -> int:
    """Run a command's `main`, turning QgenInputError into a one-line message and exit code 2; `prog` (`qgen eval`)
    is the name its --help and errors show."""
    try:
        with invoked_as(prog):
            return importlib.import_module(module).main(argv) or 0
    except QgenInputError as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    if not argv or argv[0] in ("-h", "--help") or argv[0] not in COMMANDS:
        lines = [f"  {name:<16} {help_}" for name, (_, help_) in COMMANDS.items()]
        print("usage: qgen <command> [options]\n\ncommands:\n" + "\n".join(lines))
        return 0 if argv and argv[0] in ("-h", "--help") else 2
    return run(COMMANDS[argv[0]][0], argv[1:], prog=f"qgen {argv[0]}")


if __name__ == "__main__":
    sys.exit(main())
