"""`qgen prepare-korquad` (data_prep/prepare_korquad.py): KorQuAD → instruction-prompt JSONL; the rows are
qgen.data.korquad's."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from qgen.cli.parser import ArgumentParser, command_prog, output_file, reports_input_errors
from qgen.core.errors import QgenInputError
from qgen.core.files import write_jsonl
from qgen.core.outputs import check_outputs
from qgen.data.korquad import build_rows, load_paraphrases
from qgen.data.skips import print_reasons, print_summary
from qgen.data.squad import read_squad


def build_parser() -> argparse.ArgumentParser:
    """`qgen prepare-korquad`'s flags: the input, what goes into each record, and the output."""
    p = ArgumentParser(
        prog=command_prog("prepare_korquad"),
        description="Convert KorQuAD (SQuAD layout) to {\"text\": ...} JSONL instruction prompts.",
    )
    p.add_argument("--input", required=True, type=Path, help="SQuAD-layout JSON file")
    p.add_argument("--output", required=True, type=output_file, help="JSONL to write")
    p.add_argument("--with-context", action="store_true", help="add the paragraph as an '### Input:' block")
    p.add_argument("--paraphrases", type=Path, default=None,
                   help="JSON object: original question (or id) → list of paraphrases, each an extra example")
    p.add_argument("--lang", default="ko", choices=("ko", "ja", "en"), help="normalisation")
    p.add_argument("--limit", type=int, default=None, help="use only the first N usable questions")
    return p


@reports_input_errors
def main(argv: list[str] | None = None) -> int:
    """`qgen prepare-korquad`: the JSONL written, skips counted and reported."""
    parser = build_parser()
    args = parser.parse_args(argv)
    if args.limit is not None and args.limit < 1:
        parser.error("--limit must be at least 1")
    check_outputs([("--output", args.output)], [("--input", args.input)])
    questions, skips = read_squad(args.input)
    questions = questions[: args.limit] if args.limit else questions
    paraphrases = load_paraphrases(args.paraphrases, args.lang) if args.paraphrases else {}
    rows, n_para, used = build_rows(questions, lang=args.lang, with_context=args.with_context,
                            paraphrases=paraphrases, skips=skips)
    if not rows:
        print_reasons(skips)
        raise QgenInputError(f"no usable questions ({len(skips)} skipped)", path=args.input)
    n = write_jsonl(args.output, rows)
    extra = []
    if args.paraphrases:
        unused = [k for k in paraphrases if k not in used]
        extra.append(f"paraphrases: {n_para} extra examples from {len(used)} paraphrase keys; "
                     f"{len(unused)} paraphrase keys matched no question")
        if unused:
            print("unmatched paraphrase keys: " + ", ".join(map(repr, unused[:10])) + (" …" if len(unused) > 10 else ""),
                  file=sys.stderr)
    print_summary({str(args.output): n}, skips, extra=extra)
    return 0


if __name__ == "__main__":
    sys.exit(main())
