"""`predict.py`: generate for every example of a file and write `{"id", "source", "prediction", "target"}` JSONL.

Inputs are the files data preparation writes (TSV `id\\tsource\\ttarget`, instruction JSON); prompts are built by the
checkpoint's own sequence format exactly as in training. `--answer-spans` (QA on a seq2seq checkpoint) answers with a span of
the paragraph chosen by qgen.inference.span_reader instead of generating. `--eval` scores the predictions with
qgen.cli.eval. `--task quiz` hands the whole command line to the quiz scorer (qgen.cli.quiz).
"""

from __future__ import annotations

import argparse
import dataclasses
import sys
from pathlib import Path

from qgen.cli.dataclass_args import add_dataclass_args, from_args
from qgen.cli.parser import ArgumentParser, add_threads_arg, command_prog, invoked_as, output_file, reports_input_errors
from qgen.core import console
from qgen.core.console import progress
from qgen.core.constants import DTYPE_NAMES
from qgen.core.errors import QgenInputError
from qgen.core.files import write_json, write_jsonl
from qgen.core.outputs import check_output, check_outputs
from qgen.core.threads import auto_threads, describe
from qgen.data.examples import read_examples
from qgen.data.jsquad import parse_qa_source, window_source
from qgen.evaluation.records import evaluate_records, format_metrics, scales
from qgen.evaluation.records import metrics_path as default_metrics_path
from qgen.inference.decoding import GenerationSettings, SpanSettings  # no torch: --help and flag errors stay fast
from qgen.inference.loader import check_model, load_inference_model
from qgen.models.input_spec import CONTEXT_WINDOWS, InputSpec

QUIZ_HELP = """\
multiple-choice quizzes: {prog} --task quiz --model DIR --input FILE [FILE ...] --output-dir DIR
  [--scoring choice-token|loglik|loglik-norm|generate] [--retrieval INDEX --gate-top1 P --gate-margin M] …
  writes result.json, result.log, metrics.json and reliability.png into --output-dir; every flag:
  {prog} --task quiz --help"""


def add_model_args(p: argparse.ArgumentParser) -> None:
    """Model loading flags shared with generate.py (the decoding flags come from GenerationSettings)."""
    g = p.add_argument_group("model")
    g.add_argument("--model", required=True, help="checkpoint dir (runs/x/best), LoRA adapter dir, or hub name")
    g.add_argument("--device", default="cpu", help="cpu | cuda | cuda:N | auto")
    g.add_argument("--dtype", default="auto", choices=DTYPE_NAMES,
                   help="auto = fp32 on CPU, bf16 (else fp16) on GPU")
    g.add_argument("--lang", default=None, choices=("ja", "ko", "en"), help="override the saved normalisation language")
    g.add_argument("--verbose", action="store_true", help="also show transformers' loading bars and warnings")
    g.add_argument("--trust-remote-code", action="store_true", help="run the model's own Python code (its auto_map); "
                   "only for code you trust — never taken from the checkpoint's files")
    add_threads_arg(g)


def add_context_window_arg(p) -> None:
    """`--context-window` of predict.py and generate.py: by default the one saved with the model."""
    p.add_argument("--context-window", "--context_window", default=None, choices=CONTEXT_WINDOWS,
                   help="aqg / aqg_hl: the context the model reads — sentence cuts a paragraph to the answer's "
                        "sentence (default: the model's own, context_window in its input_spec.json)")


def add_generation_args(p: argparse.ArgumentParser) -> None:
    """Model and decoding flags, the same in predict.py and generate.py: one decoding flag per GenerationSettings
    field (`--num-beams`, also `--num_beams`), its default taken from there."""
    add_model_args(p)
    add_dataclass_args(p, GenerationSettings, title="decoding (the same defaults in predict.py and generate.py)",
                       aliases=True, metavars={int: "N", float: "X"})


def settings_from_args(args) -> GenerationSettings:
    """The decoding settings the flags ask for, checked by GenerationSettings (a bad combination: QgenInputError)."""
    try:
        return from_args(GenerationSettings, args)
    except ValueError as e:
        raise QgenInputError(str(e), field="decoding options") from None


def build_parser() -> argparse.ArgumentParser:
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
    p.add_argument("--metrics", type=output_file, default=None,
                   help="metrics JSON for --eval (default: beside OUTPUT, named as qgen eval names it: NAME.metrics.json)")
    p.add_argument("--no-hallucination", action="store_true", help="--eval without the GiNZA hallucination check")
    add_context_window_arg(p)
    p.add_argument("--bad-words", "--bad_words", nargs="+", default=[], metavar="WORD",
                   help="words no prediction may contain (blocked in every spelling, checked on the decoded text)")
    add_generation_args(p)
    add_span_args(p, "for 'question: … context: …' sources (prepare_jsquad.py --task qa)")
    return p


def add_span_args(p: argparse.ArgumentParser, inputs: str) -> None:
    """`--answer-spans` and the span reader's flags (one per SpanSettings field), the same in predict.py and
    generate.py."""
    p.add_argument("--answer-spans", "--answer_spans", action="store_true",
                   help="QA: answer with the span of the paragraph the model scores best (its QA head and, weighted, "
                        f"how likely it finds the question given the span), not by generating; {inputs} and a "
                        "seq2seq checkpoint")
    add_dataclass_args(p, SpanSettings, title="span reader (with --answer-spans)", aliases=True,
                       metavars={int: "N", float: "X"})


def span_reader_from_args(im, args):
    """The span reader the flags ask for; a causal checkpoint or a bad setting is a QgenInputError."""
    from qgen.inference.span_reader import SpanReader  # torch: loaded only when answering

    if im.kind != "seq2seq":
        raise QgenInputError("the span reader needs a seq2seq (T5-style) checkpoint", field="--answer-spans")
    try:
        return SpanReader(im, from_args(SpanSettings, args), batch_size=getattr(args, "batch_size", 64))
    except ValueError as e:
        raise QgenInputError(str(e), field="span reader options") from None


def _wants_quiz(argv: list[str]) -> bool:
    pre = ArgumentParser(prog=command_prog("predict.py"), add_help=False)
    pre.add_argument("--task")
    known, _ = pre.parse_known_args(argv)
    return known.task == "quiz"


def records(examples, outputs) -> list[dict]:
    rows = []
    for ex, out in zip(examples, outputs):
        row = {"id": ex.id, "source": ex.source + (f"\n{ex.input}" if ex.input else ""),
               "prediction": out.texts[0] if out.texts else "", "target": ex.target}
        if len(out.texts) > 1:
            row["predictions"] = out.texts
        rows.append(row)
    return rows


def _recheck_bad_words(gen, examples, outputs, settings, bad_words) -> list:
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


def _read_spans(im, examples, args) -> list:
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


def metrics_path(args) -> Path | None:
    """Where --eval saves the metrics (None without --eval): --metrics, else OUTPUT.metrics.json."""
    if not args.eval:
        return args.metrics
    return args.metrics or default_metrics_path(args.output)


def check_output_paths(args) -> None:
    """--output and the metrics file are neither --input nor each other (qgen.core.outputs), before any work."""
    check_outputs([("--output", args.output), ("--metrics", metrics_path(args))], [("--input", args.input)])


def write_predictions(args, rows: list[dict]) -> None:
    """The predictions file; under --eval the stale metrics file is removed first and the new one is written last,
    so metrics beside a predictions file never describe an older one (a failure in between leaves none)."""
    if args.eval:
        metrics_path(args).unlink(missing_ok=True)
    write_jsonl(args.output, rows)


def apply_context_window(examples, task: str, window: str, model: str, lang: str) -> list:
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


def run(args) -> int:
    check_output_paths(args)
    if args.batch_size < 1:
        raise QgenInputError("must be at least 1", field="--batch-size")
    if args.limit is not None and args.limit < 1:
        raise QgenInputError("must be at least 1", field="--limit")
    settings = settings_from_args(args)
    if args.eval:
        args.metrics = check_output(metrics_path(args), "--metrics")
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
        path = metrics_path(args)
        write_json(path, {"model": str(args.model), "input": str(args.input), "predictions": str(args.output),
                          "task": im.task, "settings": vars(settings), "metrics": result["metrics"],
                          "scales": scales(result["metrics"])})
        print(format_metrics(result["metrics"], task=im.task))
        print(f"metrics saved to {path}", file=sys.stderr)
    return 0


@reports_input_errors
def main(argv: list[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    if _wants_quiz(argv):
        from qgen.cli.quiz import main as quiz_main  # looked up per call: tests replace qgen.cli.quiz.main

        with invoked_as(f"{command_prog('predict.py')} --task quiz"):
            return quiz_main(argv)
    from qgen.cli import summarize as summarize_cli  # a cycle: qgen.cli.summarize imports this module

    if summarize_cli.wanted(argv):  # summaries / instruction answers with a length budget: their own flags
        return summarize_cli.predict_main(argv)
    parser = build_parser()
    args = parser.parse_args(argv)
    if args.output is None:  # not required by argparse: a quiz run has --output-dir instead
        parser.error("the following arguments are required: --output")
    return run(args)


if __name__ == "__main__":
    sys.exit(main())
