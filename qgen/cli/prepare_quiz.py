"""`qgen prepare-quiz` (data_prep/prepare_quiz.py): JAQKET / JCommonsenseQA → 5-choice instruction JSON; the readers
are qgen.data.quiz's."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from qgen.cli.parser import ArgumentParser, command_prog, output_file, reports_input_errors
from qgen.core.errors import QgenInputError
from qgen.core.files import write_json
from qgen.core.outputs import check_outputs
from qgen.data.quiz import FORMATS, STYLES, QuizTemplate, load_template, read_quizzes, render
from qgen.data.skips import print_reasons, print_summary


def build_parser() -> argparse.ArgumentParser:
    """`qgen prepare-quiz`'s flags: the quiz file and its layout, the prompt style and template, and the output."""
    p = ArgumentParser(
        prog=command_prog("prepare_quiz"),
        description="Convert JAQKET / JCommonsenseQA quizzes to instruction JSON (train or eval style).",
    )
    p.add_argument("--input", required=True, type=Path, help="quiz file: JSON lines or a JSON list")
    p.add_argument("--format", required=True, choices=FORMATS, help="input layout")
    p.add_argument("--style", required=True, choices=STYLES,
                   help="train: whole prompt in 'instruction'; eval: choices in 'input'")
    p.add_argument("--output", required=True, type=output_file, help="JSON list to write")
    p.add_argument("--template-file", type=Path, default=None, help="JSON/YAML mapping overriding QuizTemplate fields")
    p.add_argument("--num-choices", type=int, default=5, help="JAQKET: choices kept out of the 20 candidates")
    p.add_argument("--seed", type=int, default=0, help="JAQKET: seed of the choice sampling")
    p.add_argument("--limit", type=int, default=None, help="use only the first N usable quizzes")
    p.add_argument("--no-normalize", dest="normalize", action="store_false",
                   help="keep texts as they are (line breaks and tabs still become spaces)")
    return p


@reports_input_errors
def main(argv: list[str] | None = None) -> int:
    """`qgen prepare-quiz`: the instruction JSON written, skips counted and reported."""
    parser = build_parser()
    args = parser.parse_args(argv)
    if args.num_choices < 2:
        parser.error("--num-choices must be at least 2")
    if args.limit is not None and args.limit < 1:
        parser.error("--limit must be at least 1")
    check_outputs([("--output", args.output)], [("--input", args.input)])
    template = load_template(args.template_file) if args.template_file else QuizTemplate()
    quizzes, skips = read_quizzes(args.input, args.format, num_choices=args.num_choices, seed=args.seed,
                                  normalize=args.normalize)
    quizzes = quizzes[: args.limit] if args.limit else quizzes
    if not quizzes:
        print_reasons(skips)
        raise QgenInputError(f"no usable quizzes ({len(skips)} skipped)", path=args.input)
    records = [render(q, args.style, template) for q in quizzes]
    write_json(args.output, records)
    print_summary({str(args.output): len(records)}, skips)
    return 0


if __name__ == "__main__":
    sys.exit(main())
