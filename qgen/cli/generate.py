"""`generate.py`: generate for one input, e.g. a question for an answer in a context.

The source is built in the checkpoint's own task format (the saved `input_spec.json`) and normalised as in training:
aqg `answer: {a} context: {c}`, aqg_hl the context with `<hl> {a} <hl>` around the answer, qa `question: {q} context: {c}`.
`--source` passes a ready model input through unchanged. `--answer-spans` answers --question with a span of --context
(qgen.inference.span_reader) instead of generating. `--bad-words`: no output contains any of these words.
"""

from __future__ import annotations

import argparse
import sys
from argparse import Namespace

from qgen.cli import tasks
from qgen.cli.generation_flags import (
    add_context_window_arg,
    add_generation_args,
    add_span_args,
    settings_from_args,
    span_reader_from_args,
)
from qgen.cli.parser import ArgumentParser, command_prog, reports_input_errors
from qgen.core import console
from qgen.core.console import PhaseTimer
from qgen.core.constants import QG_TASKS
from qgen.core.errors import QgenInputError
from qgen.data.examples import Example
from qgen.data.jsquad import build_source, window_context
from qgen.data.tsv import clean
from qgen.inference.loader import InferenceModel, check_model, load_inference_model
from qgen.models.input_spec import InputSpec


def build_parser() -> argparse.ArgumentParser:
    """generate.py's flags (`--task summarize|instruct` has its own: qgen.cli.summarize)."""
    p = ArgumentParser(prog=command_prog("generate.py"), description=__doc__)
    i = p.add_argument_group("input")
    i.add_argument("--context", default="", help="passage the question is about")
    i.add_argument("--answer", default="", help="answer span (aqg, aqg_hl)")
    i.add_argument("--question", default="", help="question (qa models)")
    i.add_argument("--answer-start", "--answer_start", type=int, default=None,
                   help="character offset of the answer in the context to highlight (default: its first occurrence)")
    i.add_argument("--highlight", action="store_true", help="build a <hl> source (aqg_hl) whatever the saved task")
    i.add_argument("--task", default=None, choices=QG_TASKS, help="override the saved task "
                   "(summarize / instruct: causal-model summaries and answers, see --task summarize --help)")
    i.add_argument("--source", default=None, help="a ready model input, used as is (no template, no normalisation)")
    i.add_argument("--show-source", action="store_true", help="print the model input to stderr")
    add_context_window_arg(i)
    p.add_argument("--bad-words", "--bad_words", nargs="+", default=[], metavar="WORD",
                   help="words no output may contain (every spelling and tokenisation is blocked)")
    add_generation_args(p)
    add_span_args(p, "with --question and --context")
    return p


def resolve_task(args: Namespace, saved_task: str) -> str:
    """The task whose input format to build: --highlight, --task, the model's own, else guessed from the inputs given."""
    if args.highlight:
        return "aqg_hl"
    if args.task:
        return args.task
    if saved_task in QG_TASKS:
        return saved_task
    if args.question and not args.answer:
        return "qa"
    if args.answer:
        return "aqg"
    raise QgenInputError(f"the model's task is {saved_task!r}: give --source, or --task with its inputs", field="--task")


FORMATS = {"aqg": "'answer: … context: …'", "aqg_hl": "the context with <hl> around the answer",
           "qa": "'question: … context: …'"}


def warn_format_mismatch(args: Namespace, task: str, saved: InputSpec | None) -> None:
    """A model reads inputs in the format it was trained on; --highlight / --task asking for another one is allowed
    (e.g. to compare) but said, since the output is then usually poor. `saved`: the model's InputSpec, or None."""
    if saved is None or saved.task not in FORMATS or task == saved.task:
        return
    flag = "--highlight" if args.highlight else f"--task {task}"
    print(f"warning: {flag} gives the model {task} input ({FORMATS[task]}), but {args.model} was trained on "
          f"{saved.task} input ({FORMATS[saved.task]}); expect poor output (leave out {flag} to use its own format)",
          file=sys.stderr)


def _context_in_window(args: Namespace, task: str, window: str) -> tuple[str, int | None]:
    """(--context, --answer-start) cut to the model's context window (the answer's sentence for a model trained on
    sentences), with a note when that shortened the context; unchanged for qa or an answer not in the raw context
    (build_source then finds it in the normalised text, or reports it missing)."""
    if window == "full" or task not in ("aqg", "aqg_hl") or not args.answer.strip():
        return args.context, args.answer_start
    start = args.context.find(args.answer) if args.answer_start is None else args.answer_start
    if start < 0 or args.context[start:start + len(args.answer)] != args.answer:
        return args.context, args.answer_start
    context, start = window_context(args.context, args.answer, start, window)
    if context != args.context:
        print(f"note: {args.model} reads the answer's {window} (its input_spec.json: context_window {window}); "
              f"the context was cut to it ({len(context)} of {len(args.context)} characters; --context-window full "
              "keeps it whole)", file=sys.stderr)
    return context, start


def build_input(args: Namespace, saved: InputSpec | None) -> str:
    """The model input the flags ask for, checked without loading the model: a missing answer, or one that is not in
    the context, is reported before any import of torch."""
    if args.source is not None:
        if not args.source.strip():
            raise QgenInputError("empty", field="--source")
        return args.source
    spec = saved or InputSpec()
    task = resolve_task(args, spec.task)
    context, answer_start = _context_in_window(args, task, args.context_window or spec.context_window)
    try:
        source = build_source(task, context=context, answer=args.answer, question=args.question,
                              answer_start=answer_start, lang=args.lang or spec.lang)
    except ValueError as e:
        raise QgenInputError(str(e), field="--answer" if task != "qa" else "--question") from None
    warn_format_mismatch(args, task, saved)  # after the input is accepted: a rejected one gets only its error line
    return source


def run(args: Namespace) -> int:
    """Generate with the parsed flags: the input built and checked before the model is loaded, the outputs printed."""
    settings = settings_from_args(args)
    if args.source is None and not args.context.strip():
        raise QgenInputError("give --context (with --answer or --question), or --source", field="--context")
    _, saved = check_model(args.model)  # a missing or broken model folder: reported now, before torch is imported
    if args.answer_spans:
        check_span_input(args)
    else:
        source = build_input(args, saved)
        if args.show_source:
            print(f"source: {source}", file=sys.stderr)
    timer = PhaseTimer(args.verbose)
    from qgen.inference.generation import Generator  # torch + transformers: after every input check
    from qgen.models.threads import set_threads  # torch, as above

    set_threads(args.threads)
    console.configure(args.verbose)

    timer.done("import")
    im = load_inference_model(args.model, device=args.device, dtype=args.dtype, lang=args.lang,
                              trust_remote_code=args.trust_remote_code)
    timer.done("load")
    if args.answer_spans:
        return _answer_span(args, im)
    gen = Generator(im)
    ex = Example("input", source, "")
    if gen.answer_cuts([ex], settings.max_new_tokens):
        name, value = im.format.length_limit
        raise QgenInputError(f"the <hl> answer lies beyond the model's {name} ({value} tokens): the model would not "
                             "see it; give a shorter --context (the sentences around the answer)",
                             field="--context" if args.source is None else "--source")
    if args.bad_words:
        texts, notes = gen.generate_avoiding(ex, settings, args.bad_words)
        for note in notes:
            print(f"note: {note}", file=sys.stderr)
        if not texts:
            print("error: no output avoids every bad word, even with a wider search", file=sys.stderr)
            return 1
    else:
        texts = gen.generate([ex], settings, batch_size=1)[0].texts
    timer.done("generate")
    for n, text in enumerate(texts, 1):
        print(text if len(texts) == 1 else f"{n}. {text}")
    return 0


def check_span_input(args: Namespace) -> None:
    """--answer-spans reads --question and --context: checked before the model is loaded."""
    if not args.question.strip():
        raise QgenInputError("--answer-spans needs a question", field="--question")
    if args.source is not None or args.bad_words:
        raise QgenInputError("cannot be combined with --answer-spans (it reads --question and --context)",
                             field="--source" if args.source is not None else "--bad-words")


def _answer_span(args: Namespace, im: InferenceModel) -> int:
    """--answer-spans: print the span of --context that the span reader picks for --question."""
    answer = span_reader_from_args(im, args).answer(clean(args.question, im.lang), clean(args.context, im.lang))
    if not answer.text:
        print("error: the context has no candidate answer span", file=sys.stderr)
        return 1
    print(answer.text)
    return 0


@reports_input_errors
def main(argv: list[str] | None = None) -> int:
    """generate.py: the model's output for one input (a summary or an instruction's answer: qgen.cli.summarize)."""
    argv = list(sys.argv[1:] if argv is None else argv)
    routed = tasks.route("generate", argv)
    if routed is not None:
        return routed
    args = build_parser().parse_args(argv)
    return run(args)


if __name__ == "__main__":
    sys.exit(main())
