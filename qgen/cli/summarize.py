"""`predict.py --task summarize|instruct` (files) and `generate.py --task summarize|instruct` (one input).

    predict.py --task summarize --model DIR --input docs.jsonl --output summaries.jsonl [--eval]
    generate.py --task summarize --model DIR --text "…"
    generate.py --task instruct --model DIR --instruction "…" [--text "input"]

Causal models only. The summary budget is `--summary-ratio` of the source's characters, at least `--summary-min`
(`--max-chars N`: a fixed budget, also for instruct); `--max-new-tokens` only caps the number derived from it. Each
output record has `budget`, `length` (of the output), `within_budget`, `stop` (eos / sentence / cut),
`generated_length`, `source_cut` (characters cut from the source to fit the context) and `max_new_tokens`.
`--eval` prints the share within budget, and ROUGE-L etc. (qgen.cli.eval) when every input has a reference.
"""

from __future__ import annotations

import argparse
import sys
from argparse import Namespace
from collections.abc import Callable
from pathlib import Path

from qgen.cli.generation_flags import add_generation_args, settings_from_args
from qgen.cli.parser import ArgumentParser, command_prog, output_file, reports_input_errors
from qgen.cli.prediction_files import add_metrics_args, check_output_paths, eval_metrics_path, write_predictions
from qgen.core import console
from qgen.core.errors import QgenInputError
from qgen.core.files import write_json
from qgen.core.outputs import check_output
from qgen.evaluation.records import evaluate_records, format_metrics, scales
from qgen.inference.loader import load_inference_model
from qgen.inference.summarize import BudgetedGenerator, BudgetRule, TaskInput, budget_metrics, read_inputs
from qgen.inference.task_prompts import TaskPrompts, load_prompts

TASKS = ("summarize", "instruct")
FORMAT_CHOICES = ("saved", "chat", "raw", "opencalm", "alpaca", "ja-chat")


def _common(p: argparse.ArgumentParser) -> None:
    """The task, length-budget, prompt, model and decoding flags of both the files and the one-input command."""
    p.add_argument("--task", required=True, choices=TASKS, help="summarize: `text` → summary; instruct: "
                   "`instruction` (+ `input`) → answer")
    g = p.add_argument_group("length budget and prompt")  # defaults: BudgetRule's (qgen.inference.summarize)
    g.add_argument("--summary-ratio", type=float, default=BudgetRule.ratio, help="summary budget: this share of the source's "
                   "characters …")
    g.add_argument("--summary-min", type=int, default=BudgetRule.minimum, help="… but at least this many characters")
    g.add_argument("--max-chars", type=int, default=BudgetRule.max_chars, help="a fixed budget in characters instead (instruct: the "
                   "only budget; none by default)")
    g.add_argument("--prompt-format", default=BudgetRule.prompt_format, choices=FORMAT_CHOICES,
                   help="saved: the checkpoint's own; ja-chat: '### システム: …\\n### ユーザー: …\\n### アシスタント: '; "
                   "chat: the tokenizer's chat template")
    g.add_argument("--prompt-template", type=Path, default=None,
                   help="YAML/JSON with any of system, summarize ({text} {length}), instruct ({instruction}), "
                   "instruct_input ({instruction} {input}) replacing the default Japanese prompts")
    add_generation_args(p)


def _rule(args: Namespace, argv: list[str]) -> BudgetRule:
    """The length budget and prompt the flags ask for (`--max-new-tokens` caps the budget only when given)."""
    explicit = any(a.split("=")[0] in ("--max-new-tokens", "--max_new_tokens") for a in argv)
    rule = BudgetRule(task=args.task, ratio=args.summary_ratio, minimum=args.summary_min, max_chars=args.max_chars,
                      max_new_tokens=args.max_new_tokens if explicit else None, prompt_format=args.prompt_format,
                      prompts=load_prompts(args.prompt_template) if args.prompt_template else TaskPrompts())
    try:
        rule.check()
    except ValueError as e:
        raise QgenInputError(str(e), field="length budget") from None
    return rule


def _load(args: Namespace, rule: BudgetRule) -> BudgetedGenerator:
    """The model the flags name, wrapped to generate within `rule`'s budget."""
    console.configure(args.verbose)  # transformers' loading bars and warnings only with --verbose
    im = load_inference_model(args.model, device=args.device, dtype=args.dtype, lang=args.lang,
                              trust_remote_code=args.trust_remote_code)
    return BudgetedGenerator(im, rule)


def build_predict_parser() -> argparse.ArgumentParser:
    """`predict.py --task summarize|instruct`'s flags: files in, one output record per input."""
    p = ArgumentParser(prog=command_prog("predict.py"), description=__doc__)
    p.add_argument("--input", required=True, type=Path, help="JSONL / JSON list: id + text (summarize) or id + "
                   "instruction [+ input] (instruct); optional reference (or summary / output)")
    p.add_argument("--output", required=True, type=output_file, help="output JSONL to write")
    p.add_argument("--batch-size", "--batch_size", type=int, default=8, help="inputs generated together")
    p.add_argument("--limit", type=int, default=None, help="only the first N inputs")
    p.add_argument("--eval", action="store_true", help="print and save the length figures (and ROUGE-L etc. when "
                   "there are references)")
    add_metrics_args(p)
    _common(p)
    return p


def run_predict(args: Namespace, argv: list[str]) -> int:
    """Outputs for every input of a file within the length budget, their length figures, and with --eval the
    metrics."""
    check_output_paths(args)
    if args.batch_size < 1 or (args.limit is not None and args.limit < 1):
        raise QgenInputError("--batch-size and --limit must be at least 1", field="--batch-size/--limit")
    rule = _rule(args, argv)
    settings = settings_from_args(args)
    if args.eval:  # the default metrics path beside the output, checked before any work as the flags were
        args.metrics = check_output(eval_metrics_path(args), "--metrics")
    items = read_inputs(args.input, args.task)[: args.limit]
    bg = _load(args, rule)
    records = bg.run(items, settings, batch_size=args.batch_size, progress=True)
    write_predictions(args, records)
    print(f"wrote {len(records)} outputs to {args.output}", file=sys.stderr)
    lengths = budget_metrics(records)
    if "within_budget_rate" in lengths:
        print(f"within budget: {lengths['within_budget_rate']:.1%} of {lengths['with_budget']} "
              f"(mean length {lengths['mean_length']:.0f} of mean budget {lengths['mean_budget']:.0f} characters)",
              file=sys.stderr)
    if args.eval:
        metrics = dict(lengths)
        if all("target" in r for r in records):
            metrics.update(evaluate_records(records, hallucination=not args.no_hallucination)["metrics"])
        else:
            print("note: not every input has a reference: ROUGE-L is not computed", file=sys.stderr)
        path = eval_metrics_path(args)
        write_json(path, {"model": str(args.model), "input": str(args.input), "predictions": str(args.output),
                          "task": args.task, "settings": vars(settings), "metrics": metrics,
                          "scales": scales(metrics)})
        print(format_metrics(metrics))
        print(f"metrics saved to {path}", file=sys.stderr)
    return 0


def build_generate_parser() -> argparse.ArgumentParser:
    """`generate.py --task summarize|instruct`'s flags: one text or instruction from the command line."""
    p = ArgumentParser(prog=command_prog("generate.py"), description=__doc__)
    p.add_argument("--text", default="", help="summarize: the text; instruct: the input the instruction is about")
    p.add_argument("--instruction", default="", help="instruct: the instruction")
    p.add_argument("--show-prompt", action="store_true", help="print the prompt to stderr")
    _common(p)
    return p


def run_generate(args: Namespace, argv: list[str]) -> int:
    """The output for one input, printed, with its budget and length on stderr."""
    if args.task == "summarize" and not args.text.strip():
        raise QgenInputError("give the text to summarise", field="--text")
    if args.task == "instruct" and not args.instruction.strip():
        raise QgenInputError("give the instruction", field="--instruction")
    rule = _rule(args, argv)
    settings = settings_from_args(args)
    item = (TaskInput("input", args.text.strip()) if args.task == "summarize"
            else TaskInput("input", args.instruction.strip(), args.text.strip()))
    bg = _load(args, rule)
    if args.show_prompt:
        print(f"prompt: {bg.plan(item).prompt}", file=sys.stderr)
    (rec,) = bg.run([item], settings, batch_size=1)
    texts = rec.get("predictions", [rec["prediction"]])
    for n, text in enumerate(texts, 1):
        print(text if len(texts) == 1 else f"{n}. {text}")
    budget = f"budget {rec['budget']}, " if rec["budget"] is not None else ""
    print(f"{budget}length {rec['length']} characters (stop: {rec['stop']}"
          + (f"; {rec['source_cut']} source characters cut to fit" if rec["source_cut"] else "") + ")",
          file=sys.stderr)
    return 0


def _main(build: Callable[[], argparse.ArgumentParser], run: Callable[[Namespace, list[str]], int],
          argv: list[str] | None) -> int:
    """Parse `argv` (default: the process's) with `build()` and run; `run` sees argv to tell given flags from defaults."""
    argv = list(sys.argv[1:] if argv is None else argv)
    return run(build().parse_args(argv), argv)


@reports_input_errors
def predict_main(argv: list[str] | None = None) -> int:
    """`predict.py --task summarize|instruct`."""
    return _main(build_predict_parser, run_predict, argv)


@reports_input_errors
def generate_main(argv: list[str] | None = None) -> int:
    """`generate.py --task summarize|instruct`."""
    return _main(build_generate_parser, run_generate, argv)
