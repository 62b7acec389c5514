"""`predict.py --task quiz …` (multiple-choice evaluation, optionally confidence-gated retrieval) and `qgen quiz tune-gate`.

    python predict.py --task quiz --model runs/quiz/best --input dev1.json dev2.json --output-dir results/
    qgen quiz eval --model runs/quiz/best --input dev.json --output-dir results/ --retrieval idx --gate-top1 0.5
    qgen quiz tune-gate --without results/plain/result.json --with results/all/result.json --tune-fraction 0.5
    qgen quiz sweep --models M1 M2 M3 --input dev.json --output-dir sweeps/x   # several models (qgen.cli.quiz_sweep)

Writes (atomically) result.json (one record per question), result.log (readable), metrics.json and reliability.png
(reliability_first_pass.png too when retrieval is on) into the output directory; prints accuracy per file and overall.

A result.json record: id, file, question, choices, gold, pred (None = unparseable generation), correct, probs (per
choice), confidence (top-1 probability), margin (top-1 − top-2), scoring, scores (raw per-choice scores), raw (the
generated text, `generate` only), unparseable, prompt_tokens, cut (what the truncation rule removed), prompt (the
exact prompt text scored), retrieval_used, passages (ids of the `[参考]` passages); with loglik scoring also
pred_acc / pred_acc_norm and acc / acc_norm (lm-evaluation-harness's two picks), continuation_chars; with
`--retrieval` also gate_fired and first_pass (pred, correct, probs, confidence, margin, raw of the pass without
retrieval). Gate: a question is re-scored with retrieved passages when top1 < --gate-top1 or margin < --gate-margin
(or always with --retrieve-all), and the re-scored answer replaces the first one; when BM25 finds nothing the first
answer stands (gate_fired true, retrieval_used false).

The pipeline itself is a Python API, qgen.quiz.pipeline (`run_quiz(QuizSettings(...))`); this command parses the
flags (derived from QuizSettings), prints the accuracies and turns bad input into one `error:` line and exit 2.
"""

from __future__ import annotations

import argparse
import sys
from argparse import Namespace
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING

from qgen.cli import quiz_gate, quiz_sweep
from qgen.cli.dataclass_args import add_dataclass_args, from_args
from qgen.cli.parser import ArgumentParser, command_prog, invoked_as, reports_input_errors
from qgen.evaluation.calibration import chance_note

if TYPE_CHECKING:
    from qgen.quiz.pipeline import QuizSettings  # torch (the scorer): only its type is named at the top

# `qgen quiz <word>`: the sub-commands with flags of their own (`eval`, or no word, scores a quiz)
SUBCOMMANDS: dict[str, Callable[[list[str] | None], int]] = {"tune-gate": quiz_gate.main, "sweep": quiz_sweep.main}


def build_parser() -> argparse.ArgumentParser:
    """One flag per QuizSettings field (qgen.quiz.pipeline: the defaults, choices and help live there)."""
    from qgen.quiz.pipeline import QuizSettings  # torch (the scorer): only when a quiz is scored or its flags shown

    p = ArgumentParser(prog=command_prog("qgen quiz"),
                       description="Evaluate a causal LM on multiple-choice quizzes (`predict.py --task quiz …`, "
                       "`qgen quiz [eval] …`).\nThe gate tuner and the model sweep have their own flags: `qgen quiz "
                       "tune-gate --help`, `qgen quiz sweep --help`.")
    add_dataclass_args(p, QuizSettings)
    p.add_argument("--task", choices=("quiz",), help=argparse.SUPPRESS)  # predict.py --task quiz hands over its argv
    p.add_argument("--output", type=Path, help=argparse.SUPPRESS)  # caught: one file cannot hold a quiz run's outputs
    return p


def settings_from_args(args: Namespace) -> QuizSettings:
    """The QuizSettings the parsed flags ask for (ValueError: settings that cannot work together)."""
    from qgen.quiz.pipeline import QuizSettings  # torch, as in build_parser

    return from_args(QuizSettings, args)


def evaluate(args: Namespace) -> tuple[dict, list[Path]]:
    """Score every file (and re-score gated questions with retrieval) with qgen.quiz.pipeline.run_quiz; returns the
    metrics and the paths written."""
    from qgen.quiz.pipeline import run_quiz  # torch, as in build_parser

    result = run_quiz(settings_from_args(args), progress=True)
    return result.metrics, result.written


def _harness_figures(block: dict) -> str:
    """lm-evaluation-harness's acc / acc_norm for a metrics block that has them (loglik scoring), else ""."""
    h = block.get("lm_eval")
    return f"\tacc {h['acc']:.4f}\tacc_norm {h['acc_norm']:.4f}" if h else ""


@reports_input_errors
def main(argv: list[str] | None = None) -> int:
    """`qgen quiz [eval]`: score quizzes and print the accuracies; `qgen quiz tune-gate|sweep`: those commands."""
    argv = list(sys.argv[1:] if argv is None else argv)
    if argv[:1] and argv[0] in SUBCOMMANDS:
        with invoked_as(f"{command_prog('qgen quiz')} {argv[0]}"):
            return SUBCOMMANDS[argv[0]](argv[1:])
    if argv[:1] == ["eval"]:
        argv = argv[1:]
    parser = build_parser()
    args = parser.parse_args(argv)
    if args.output is not None:
        parser.error(f"--output {args.output}: a quiz run writes several files (result.json, result.log, "
                     "metrics.json, reliability.png); name a directory with --output-dir")
    if args.retrieve_all and not args.retrieval:
        parser.error("--retrieve-all needs --retrieval INDEX")
    try:
        settings_from_args(args)  # its checks, before any model is loaded
    except ValueError as e:
        parser.error(str(e))
    metrics, written = evaluate(args)
    for name, m in metrics["files"].items():
        print(f"{name}\taccuracy {m['final']['accuracy']:.4f}\t(n={m['final']['n']}){_harness_figures(m)}")
    o = metrics["overall"]
    line = f"overall\taccuracy {o['final']['accuracy']:.4f}\t(n={o['final']['n']}){_harness_figures(o)}"
    if "retrieval" in o:
        rv = o["retrieval"]
        line += f"\twithout retrieval {o['first_pass']['accuracy']:.4f}\tretrieval rate {rv['rate']:.3f}"
    print(line)
    if chance_note(o["final"]):
        print(f"note: {chance_note(o['final'])}", file=sys.stderr)
    print(f"wrote {', '.join(p.name for p in written)} to {args.output_dir}")
    return 0

