"""KorQuAD (SQuAD layout) → `{"text": ...}` JSONL of Alpaca-style prompts for plain causal-LM fine-tuning.

Without context the text is `PREAMBLE ### Instruction: {question} ### Response: {answer}` (the format of the reference
Llama-2 experiment). `--with-context` uses Alpaca's with-input preamble and puts the paragraph after the question:
`PREAMBLE_INPUT ### Instruction: {question} ### Input: {context} ### Response: {answer}`.

Paraphrase augmentation: a JSON object mapping an original question (or its id) to a list of paraphrases; each
paraphrase becomes one more example with the same answer (and context), placed right after the original, id
`{id}-para{k}`. Questions are matched after normalisation, so spacing or full-width differences do not matter.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from qgen.cli.parser import ArgumentParser, command_prog
from qgen.core.errors import QgenInputError
from qgen.core.files import write_jsonl
from qgen.data.jsonfile import load_json
from qgen.data.skips import Skips, print_reasons, print_summary
from qgen.data.squad import SquadQuestion, read_squad
from qgen.data.tsv import clean

PREAMBLE = "Below is an instruction that describes a task. Write a response that appropriately completes the request."
PREAMBLE_INPUT = (
    "Below is an instruction that describes a task, paired with an input that provides further context. "
    "Write a response that appropriately completes the request."
)
TEMPLATE = PREAMBLE + " ### Instruction: {question} ### Response: {answer}"
TEMPLATE_CONTEXT = PREAMBLE_INPUT + " ### Instruction: {question} ### Input: {context} ### Response: {answer}"


def format_text(question: str, answer: str, context: str | None = None) -> str:
    """The training text for already-normalised strings (context=None: no Input block)."""
    if context is None:
        return TEMPLATE.format(question=question, answer=answer)
    return TEMPLATE_CONTEXT.format(question=question, answer=answer, context=context)


def load_paraphrases(path, lang: str = "ko") -> dict[str, list[str]]:
    """{normalised question or id: [normalised paraphrases]}; any entry that is not a list of strings is an error."""
    data = load_json(path)
    if not isinstance(data, dict):
        raise QgenInputError(f"expected an object mapping questions to lists of paraphrases, got {type(data).__name__}",
                             path=path)
    out: dict[str, list[str]] = {}
    for key, value in data.items():
        if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
            raise QgenInputError("expected a list of strings", path=path, record=repr(key))
        paras = [p for p in (clean(v, lang) for v in value) if p]
        out.setdefault(clean(key, lang) or key, []).extend(paras)
    return out


def build_rows(questions: list[SquadQuestion], *, lang: str = "ko", with_context: bool = False,
               paraphrases: dict[str, list[str]] | None = None, skips: Skips | None = None
               ) -> tuple[list[dict], int, set[str]]:
    """JSONL rows (`id`, `text`), how many of them are paraphrases, and the paraphrase keys that were used."""
    skips = Skips() if skips is None else skips
    paraphrases = paraphrases or {}
    rows, used, n_para = [], set(), 0
    for q in questions:
        question, answer = clean(q.question, lang), clean(q.answer, lang)
        context = clean(q.context, lang) if with_context else None
        if not question or not answer or context == "":
            skips.add("empty text after normalisation", q.id)
            continue
        rows.append({"id": q.id, "text": format_text(question, answer, context)})
        key, paras = paraphrases_of(q.id, question, paraphrases)
        if key is not None:
            used.add(key)
        for k, para in enumerate(paras, 1):
            rows.append({"id": f"{q.id}-para{k}", "text": format_text(para, answer, context)})
            n_para += 1
    return rows, n_para, used


def paraphrases_of(qid: str, question: str, paraphrases: dict[str, list[str]]) -> tuple[str | None, list[str]]:
    """(the key that matched — the id first, else the normalised question — or None, its distinct new paraphrases)."""
    key = qid if qid in paraphrases else question
    if key not in paraphrases:
        return None, []
    seen, out = {question}, []
    for para in paraphrases[key]:
        if para not in seen:
            seen.add(para)
            out.append(para)
    return key, out


def build_parser() -> argparse.ArgumentParser:
    p = ArgumentParser(
        prog=command_prog("prepare_korquad"),
        description="Convert KorQuAD (SQuAD layout) to {\"text\": ...} JSONL instruction prompts.",
    )
    p.add_argument("--input", required=True, type=Path, help="SQuAD-layout JSON file")
    p.add_argument("--output", required=True, type=Path, help="JSONL to write")
    p.add_argument("--with-context", action="store_true", help="add the paragraph as an '### Input:' block")
    p.add_argument("--paraphrases", type=Path, default=None,
                   help="JSON object: original question (or id) → list of paraphrases, each an extra example")
    p.add_argument("--lang", default="ko", choices=("ko", "ja", "en"), help="normalisation")
    p.add_argument("--limit", type=int, default=None, help="use only the first N usable questions")
    return p


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    if args.limit is not None and args.limit < 1:
        parser.error("--limit must be at least 1")
    if args.input.resolve() == args.output.resolve():
        parser.error("--output must not be the --input file")
    try:
        questions, skips = read_squad(args.input)
        questions = questions[: args.limit] if args.limit else questions
        paraphrases = load_paraphrases(args.paraphrases, args.lang) if args.paraphrases else {}
        rows, n_para, used = build_rows(questions, lang=args.lang, with_context=args.with_context,
                                paraphrases=paraphrases, skips=skips)
        if not rows:
            print_reasons(skips)
            raise QgenInputError(f"no usable questions ({len(skips)} skipped)", path=args.input)
        n = write_jsonl(args.output, rows)
    except QgenInputError as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
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
