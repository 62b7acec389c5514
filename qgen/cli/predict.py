"""`predict.py`: generate for every example of a file and write `{"id", "source", "prediction", "target"}` JSONL.

Inputs are the files data preparation writes (TSV `id\\tsource\\ttarget`, instruction JSON); prompts are built by the
checkpoint's own sequence format exactly as in training. `--answer-spans` (QA on a seq2seq checkpoint) answers with a span of
the paragraph chosen by qgen.inference.span_reader instead of generating. `--eval` scores the predictions with
qgen.cli.eval. `--task quiz` and `--task summarize|instruct` are other commands (qgen.cli.tasks routes them).
"""

from __future__ import annotations

import argparse
import dataclasses
import sys
from argparse import Namespace
from pathlib import Path
from typing import TYPE_CHECKING

from qgen.cli import tasks
from qgen.cli.generation_flags import (
    add_context_window_arg,
    add_generation_args,
    add_span_args,
    settings_from_args,
    span_reader_from_args,
)
from qgen.cli.parser import ArgumentParser, command_prog, output_file, reports_input_errors
from qgen.cli.prediction_files import (
    add_metrics_args,
    check_output_paths,
    eval_metrics_path,
    records,
    write_predictions,
)
from qgen.core import console
from qgen.core.console import progress
from qgen.core.errors import QgenInputError
from qgen.core.files import write_json
from qgen.core.outputs import check_output
from qgen.core.threads import auto_threads, describe
from qgen.data.examples import Example, read_examples
from qgen.data.jsquad import parse_qa_source, window_source
from qgen.evaluation.records import evaluate_records, format_metrics, scales
from qgen.inference.loader import InferenceModel, check_model, load_inference_model
from qgen.models.input_spec import InputSpec

if TYPE_CHECKING:
    from qgen.inference.decoding import GenerationSettings
    from qgen.inference.generation import Generator, Output  # torch: only their types are named at the top

QUIZ_HELP = """\
multiple-choice quizzes: {prog} --task quiz --model DIR --input FILE [FILE ...] --output-dir DIR
  [--scoring choice-token|loglik|loglik-norm|generate] [--retrieval INDEX --gate-top1 P --gate-margin M] …
  writes result.json, result.log, metrics.json and reliability.png into --output-dir; every flag:
  {prog} --task quiz --help"""


def build_parser() -> argparse.ArgumentParser:
    """predict.py's flags (the quiz's are the quiz command's: only pointed to in the epilog)."""
    prog = command_prog("predict.py")
    p = ArgumentParser(prog=prog, description=__doc__, epilog=QUIZ_HELP.format(prog=prog))
    p.add_argument("--task", default=None, help="quiz: multiple-choice scoring, with its own flags (see below); summarize / "
                   "instruct: causal-model summaries and answers with a kept length budget (--task summarize --help); "
                   "any other "
                   "task overrides the checkpoint's saved one (aqg, aqg_hl, qa …)")
    p.add_argument("--input", required=True, type=Path, help="TSV (id, source, target) or instruction JSON/JSONL")
    p.add_argument("--output", type=output_file, help="predictions JSONL to write (required; a quiz run takes --output-dir)")
    p.add_argument("--batch-size", "--batch_size", type=int, default=32, help="inputs generated together")
    p.add_argument("--limit", type=int, default=None, help="only the first N examples")
    p.add_argument("--eval", action="store_true", help="also score the predictions (qgen.cli.eval) and save the metrics")
    add_metrics_args(p)
    add_context_window_arg(p)
    p.add_argument("--bad-words", "--bad_words", nargs="+", default=[], metavar="WORD",
                   help="words no prediction may contain (blocked in every spelling, checked on the decoded text)")
    add_generation_args(p)
    add_span_args(p, "for 'question: … context: …' sources (prepare_jsquad.py --task qa)")
    return p


def _recheck_bad_words(gen: Generator, examples: list[Example], outputs: list[Output], settings: GenerationSettings,
                       bad_words: list[str]) -> list[Output]:
    """Batched decoding blocks the bad words' tokens; an output whose text still holds one is redone one by one with
    generate.py's widening search, and an example with no clean output is reported (its prediction left empty)."""
    from qgen.inference.bad_words import contains_bad, variants  # torch: loaded only when predicting
    from qgen.inference.generation import Output  # torch, as above

    bad = variants(bad_words, gen.im.lang)
    fixed = list(outputs)
    for i, out in enumerate(outputs):
        if any(contains_bad(t, bad, gen.im.lang) for t in out.texts):
            texts, _ = gen.generate_avoiding(examples[i], settings, bad_words)
            fixed[i] = Output(texts)
            if not texts:
                print(f"warning: {examples[i].id}: no output avoids the bad words", file=sys.stderr)
    return fixed


def _read_spans(im: InferenceModel, examples: list[Example], args: Namespace) -> list[Output]:
    """Span answers (qgen.inference.span_reader) for QA sources; a source of another form is named with its record."""
    from qgen.inference.generation import Output  # torch: loaded only when predicting

    if args.bad_words:
        raise QgenInputError("cannot be combined with --answer-spans (answers are spans of the paragraph)",
                             field="--bad-words")
    reader = span_reader_from_args(im, args)
    questions = []
    for n, ex in enumerate(examples, 1):
        try:
            questions.append(parse_qa_source(ex.source))
        except ValueError as e:
            raise QgenInputError(str(e), path=args.input, record=n, field="source") from None
    bar = progress(len(questions), "answers", "q")
    outputs = []
    for question, context in questions:
        outputs.append(Output([reader.answer(question, context).text]))
        bar.update(1)
    bar.close()
    return outputs


def apply_context_window(examples: list[Example], task: str, window: str, model: str, lang: str) -> list[Example]:
    """The examples with aqg / aqg_hl paragraph sources cut to the model's context window (qgen-small-ja reads the
    answer's sentence), and one note saying how many were cut."""
    if window == "full" or task not in ("aqg", "aqg_hl"):
        return examples
    out = [dataclasses.replace(ex, source=window_source(task, ex.source, window, lang)) for ex in examples]
    cut = sum(a.source != b.source for a, b in zip(examples, out))
    if cut:
        print(f"note: {model} reads the answer's {window} (its input_spec.json: context_window {window}): {cut} of "
              f"{len(out)} inputs cut from their paragraph to it (--context-window full keeps them whole)",
              file=sys.stderr)
    return out


def run(args: Namespace) -> int:
    """Predict with the parsed flags: every input checked, then the model loaded, then the predictions (and metrics)
    written."""
    check_output_paths(args)
    if args.batch_size < 1:
        raise QgenInputError("must be at least 1", field="--batch-size")
    if args.limit is not None and args.limit < 1:
        raise QgenInputError("must be at least 1", field="--limit")
    settings = settings_from_args(args)
    if args.eval:
        args.metrics = check_output(eval_metrics_path(args), "--metrics")
    examples = read_examples(args.input)
    if args.limit is not None:
        examples = examples[: args.limit]
    for n, ex in enumerate(examples, 1):
        if not ex.source.strip():
            raise QgenInputError("no source to generate from (plain-text JSONL is training data, not a prediction "
                                 "input)", path=args.input, record=n, field="source")
    _, saved = check_model(args.model)  # a missing or broken model folder: reported now, before torch is imported
    spec = saved or InputSpec()
    task = args.task or spec.task
    examples = apply_context_window(examples, task, args.context_window or spec.context_window, args.model,
                                    args.lang or spec.lang)
    threads = args.threads or auto_threads()
    print(f"predicting {len(examples)} examples of {args.input} with {args.model} ({describe(args.threads, threads)})"
          ": loading it …", file=sys.stderr, flush=True)
    from qgen.inference.generation import Generator  # torch + transformers: after every input check
    from qgen.models.threads import set_threads  # torch, as above

    set_threads(threads)
    console.configure(args.verbose)
    from qgen.models.formats.sequence import cut_note  # as above

    im = load_inference_model(args.model, device=args.device, dtype=args.dtype, task=args.task, lang=args.lang,
                              trust_remote_code=args.trust_remote_code)
    if args.answer_spans:
        outputs = _read_spans(im, examples, args)
    else:
        gen = Generator(im)
        cuts = gen.answer_cuts(examples, settings.max_new_tokens)
        if cuts:
            print(f"warning: {args.input}: {cut_note(examples, cuts, im.format)}: the model does not "
                  "see those answers (their predictions are kept)", file=sys.stderr)
        outputs = gen.generate(examples, settings, batch_size=args.batch_size, bad_words=args.bad_words, progress=True)
        if args.bad_words:
            outputs = _recheck_bad_words(gen, examples, outputs, settings, args.bad_words)
    rows = records(examples, outputs)
    write_predictions(args, rows)
    print(f"wrote {len(rows)} predictions to {args.output}", file=sys.stderr)
    if args.eval:
        result = evaluate_records(rows, hallucination=not args.no_hallucination)
        path = eval_metrics_path(args)
        write_json(path, {"model": str(args.model), "input": str(args.input), "predictions": str(args.output),
                          "task": im.task, "settings": vars(settings), "metrics": result["metrics"],
                          "scales": scales(result["metrics"])})
        print(format_metrics(result["metrics"], task=im.task))
        print(f"metrics saved to {path}", file=sys.stderr)
    return 0


@reports_input_errors
def main(argv: list[str] | None = None) -> int:
    """predict.py: predictions for every example of a file (a quiz, a summary or an instruction task: its command)."""
    argv = list(sys.argv[1:] if argv is None else argv)
    routed = tasks.route("predict", argv)
    if routed is not None:
        return routed
    parser = build_parser()
    args = parser.parse_args(argv)
    if args.output is None:  # not required by argparse: a quiz run has --output-dir instead
        parser.error("the following arguments are required: --output")
    return run(args)


if __name__ == "__main__":
    sys.exit(main())
