"""`qgen prepare-jsquad` (data_prep/prepare_jsquad.py): SQuAD-layout JSON → QA / AQG / AQG-HL TSV rows; the
conversion is qgen.data.jsquad."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from qgen.cli.parser import ArgumentParser, command_prog, output_file, reports_input_errors
from qgen.core.errors import QgenInputError
from qgen.core.outputs import check_outputs
from qgen.data.jsquad import CONTEXT_WINDOWS, TASKS, answer_in_body, convert, holdout_split
from qgen.data.skips import print_reasons, print_summary
from qgen.data.squad import read_squad_files
from qgen.data.tsv import write_tsv_files


def build_parser() -> argparse.ArgumentParser:
    """`qgen prepare-jsquad`'s flags: the input, the task, the context window and the hold-out split."""
    p = ArgumentParser(
        prog=command_prog("prepare_jsquad"),
        description="Convert a SQuAD-v1.1-layout file (JSQuAD, KorQuAD, SQuAD) to `id\\tsource\\ttarget` TSV rows.",
    )
    p.add_argument("--input", required=True, type=Path, nargs="+",
                   help="SQuAD-layout JSON file(s) or directories of them (JaQuAD's shards: --input jaquad/train)")
    p.add_argument("--task", required=True, choices=TASKS, help="qa: question+context→answer; aqg: answer+context→"
                   "question; aqg_hl: context with <hl> answer <hl>→question")
    p.add_argument("--output", required=True, type=output_file, help="TSV to write")
    p.add_argument("--lang", default="ja", choices=("ja", "ko", "en"), help="normalisation (neologdn for ja only)")
    p.add_argument("--limit", type=int, default=None, help="use only the first N usable questions (file order)")
    p.add_argument("--holdout", type=float, default=None, metavar="FRACTION",
                   help="move this fraction of the contexts (with all their questions) to --holdout-output")
    p.add_argument("--holdout-output", type=output_file, default=None, help="TSV for the held-out questions")
    p.add_argument("--seed", type=int, default=0, help="seed of the holdout split")
    p.add_argument("--answer-in-body", action="store_true",
                   help="move an answer_start that points into the 'TITLE [SEP]' prefix to the answer's first "
                   "occurrence in the body (JSQuAD's offsets are first occurrences, so some point at the title)")
    p.add_argument("--context-window", default="full", choices=CONTEXT_WINDOWS,
                   help="full: the whole paragraph; sentence: only the sentence(s) holding the answer span, after the "
                   "'TITLE [SEP]' prefix (sentence-level QG; the holdout split still goes by whole paragraph); "
                   "question (qa only): the --sentences sentences sharing most character bigrams with the question "
                   "(no answer used: a retrieve-then-read input for inference and evaluation)")
    p.add_argument("--neighbours", type=int, default=0, metavar="N",
                   help="with --context-window sentence: also keep N sentences before and after the answer's")
    p.add_argument("--sentences", type=int, default=2, metavar="K",
                   help="with --context-window question: how many sentences to keep")
    return p


@reports_input_errors
def main(argv: list[str] | None = None) -> int:
    """`qgen prepare-jsquad`: the TSV (and hold-out TSV) written, skips counted and reported."""
    parser = build_parser()
    args = parser.parse_args(argv)
    if (args.holdout is None) != (args.holdout_output is None):
        parser.error("--holdout and --holdout-output go together")
    if args.holdout is not None and not 0 < args.holdout < 1:
        parser.error("--holdout must be between 0 and 1 (exclusive)")
    if args.neighbours < 0 or (args.neighbours and args.context_window != "sentence"):
        parser.error("--neighbours takes N >= 0 and needs --context-window sentence")
    if args.sentences < 1:
        parser.error("--sentences must be at least 1")
    if args.context_window == "question" and args.task != "qa":
        parser.error("--context-window question is for --task qa")
    if args.limit is not None and args.limit < 1:
        parser.error("--limit must be at least 1")
    check_outputs([("--output", args.output), ("--holdout-output", args.holdout_output)],
                  [("--input", p) for p in args.input])
    questions, skips = read_squad_files(args.input)
    if args.limit is not None:
        questions = questions[: args.limit]
    moved = 0
    if args.answer_in_body:
        anchored = [answer_in_body(q) for q in questions]
        moved = sum(a is not q for a, q in zip(anchored, questions))
        questions = anchored
    def rows(qs: list) -> list:
        """The TSV rows of `qs` with this run's settings (skips counted in `skips`)."""
        return convert(qs, args.task, args.lang, skips, args.context_window, args.neighbours, args.sentences)

    if args.holdout is None:
        outputs = {args.output: rows(questions)}
    else:
        try:
            train, dev = holdout_split(questions, args.holdout, args.seed, args.lang)
        except ValueError as e:
            raise QgenInputError(str(e), path=args.input[0]) from None
        outputs = {args.output: rows(train), args.holdout_output: rows(dev)}
    if not any(outputs.values()):
        print_reasons(skips)
        raise QgenInputError(f"no usable questions ({len(skips)} skipped)", path=args.input[0])
    written = write_tsv_files(outputs)
    print_summary(written, skips, extra=[f"moved {moved} answers from the title to the body"] if args.answer_in_body else None)
    return 0


if __name__ == "__main__":
    sys.exit(main())
