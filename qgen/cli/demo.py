"""`qgen demo` (`make demo`, `python -m qgen.demo`): answer-aware question generation on JSQuAD, end to end on a CPU in minutes.

Default: start from `qgen-small-ja` (the small Japanese T5 shipped in the package, trained on JaQuAD only), score it
on held-out JSQuAD paragraphs, fine-tune it on the other JSQuAD paragraphs (AQG-HL: the answer's sentence with the
answer marked `<hl>`) for a fixed number of steps (the same work on any machine; the time it took is measured and
printed), score it again, and print BLEU-4 / ROUGE-L / hallucination rate before and after, a line saying whether
fine-tuning helped, plus five held-out examples — the same steps as fine-tuning `sonoisa/t5-base-japanese` on a GPU, which
`--model DIR` does with any seq2seq checkpoint. `--from-scratch`: the built-in 2-layer `tiny-t5` trained from random
weights (AQG on the whole paragraph): within minutes it learns one generic question and does not read its input — the
loop learning, not a question generator.

The held-out questions (10% of the paragraphs) are split by paragraph into a validation half, which picks `best/`,
and a test half, which is scored; no paragraph is in two of the three sets. torch's threads: `--threads` (default: the
cores the machine's load leaves free, qgen.core.threads), so a busy machine is not oversubscribed.
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from argparse import Namespace
from pathlib import Path

from qgen.cli.parser import ArgumentParser, add_threads_arg, command_prog, reports_input_errors
from qgen.cli.prediction_files import records
from qgen.cli.train import format_summary
from qgen.core import console
from qgen.core.errors import QgenInputError
from qgen.core.files import write_json, write_jsonl
from qgen.core.threads import describe
from qgen.data.examples import read_examples
from qgen.data.jsquad import convert, holdout_split
from qgen.data.squad import read_squad
from qgen.data.tsv import write_tsv_files
from qgen.evaluation import report as reports
from qgen.evaluation.records import evaluate_records, metrics_path, worst_first
from qgen.inference.loader import load_inference_model
from qgen.models.tiny import build_tiny

JSQUAD = Path("jglue") / "jsquad-v1.3" / "valid-v1.3.json"
SCRATCH = "tiny-t5"
SHIPPED = "qgen-small-ja"
SHOWN = ("bleu", "rougeL", "hallucination_rate", "distinct_rate", "on_topic_rate")
STEPS = 350  # fine-tuning: what 2.5 minutes gave on an idle 2-core CPU (README: the demo's output)
SCRATCH_STEPS = 500


def prepare(data_dir: Path, out: Path, task: str, context_window: str, test_limit: int
            ) -> tuple[Path, Path, Path, list[str]]:
    """JSQuAD valid → train / valid / test TSVs split by paragraph; returns their paths and the training texts."""
    path = data_dir / JSQUAD
    if not path.is_file():
        raise QgenInputError("JSQuAD validation file not found (set --data-dir or QGEN_DATA_DIR)", path=path)
    questions, _ = read_squad(path)
    train_q, held_q = holdout_split(questions, 0.1, seed=0)
    valid_q, test_q = holdout_split(held_q, 0.5, seed=1)
    rows = {name: convert(qs, task, context_window=context_window)
            for name, qs in (("train", train_q), ("valid", valid_q), ("test", test_q))}
    rows["test"] = rows["test"][:test_limit]
    paths = {name: out / "data" / f"{name}.tsv" for name in rows}
    write_tsv_files({paths[name]: rows[name] for name in rows})
    texts = [t for ex in rows["train"] for t in (ex.source, ex.target)]
    return paths["train"], paths["valid"], paths["test"], texts


def predict_and_score(model: str, test_tsv: Path, predictions: Path) -> tuple[dict, list, list]:
    """Beam-4 questions for the test rows (qgen's predict path), scored as `qgen eval` scores them: (metrics, the
    prediction rows, the scored examples)."""
    from qgen.inference.generation import GenerationSettings, Generator  # torch: --help and bad flags stay fast

    examples = read_examples(test_tsv)
    im = load_inference_model(model)
    outputs = Generator(im).generate(examples, GenerationSettings(num_beams=4, max_new_tokens=48), batch_size=32)
    rows = records(examples, outputs)
    write_jsonl(predictions, rows)
    result = evaluate_records(rows)
    write_json(metrics_path(predictions), {"model": model, **result["metrics"]})
    return result["metrics"], rows, result["examples"]


def write_report(path: Path, model: str, before: dict | None, before_rows: list, after: dict, examples: list) -> None:
    """report.html: the metrics before and after fine-tuning side by side, and each example's question before too."""
    if before is None:
        reports.write_report(path, after, worst_first(examples), title=f"qgen demo: {model}", label="from scratch")
        return
    earlier = {r["id"]: r["prediction"] for r in before_rows}
    examples = [{**e, "before": earlier.get(e["id"], "")} for e in examples]
    reports.write_report(path, after, worst_first(examples), title=f"qgen demo: {model}, before and after fine-tuning",
                         compare={"before fine-tuning": before}, label="after fine-tuning")


def build_parser() -> argparse.ArgumentParser:
    """The demo's flags: which model, how much training, where the data and the outputs are."""
    p = ArgumentParser(prog=command_prog("qgen demo"), description=__doc__.split("\n")[0])
    p.add_argument("--data-dir", type=Path, default=Path(os.environ.get("QGEN_DATA_DIR", "../shared/data")),
                   help="folder holding jglue/jsquad-v1.3/valid-v1.3.json")
    p.add_argument("--output-dir", type=Path, default=Path("runs/demo"))
    p.add_argument("--model", default=SHIPPED,
                   help="seq2seq model to fine-tune: the shipped qgen-small-ja, or a checkpoint directory; tiny-t5 = "
                        "train the built-in tiny model from scratch")
    p.add_argument("--from-scratch", dest="model", action="store_const", const=SCRATCH, help="same as --model tiny-t5")
    p.add_argument("--max-steps", type=int, default=None,
                   help=f"optimiser steps: the same work on any machine (default: {STEPS} fine-tuning, "
                        f"{SCRATCH_STEPS} from scratch)")
    p.add_argument("--minutes", type=float, default=0.0,
                   help="also stop after this much training time (0 = no limit: the steps decide)")
    p.add_argument("--lr", type=float, default=None, help="peak learning rate (default: 5e-4 fine-tuning, 2e-3 from "
                   "scratch; constant after 30 warmup steps)")
    p.add_argument("--batch-size", type=int, default=16)
    p.add_argument("--test-limit", type=int, default=200, help="held-out test questions scored before and after")
    p.add_argument("--vocab-size", type=int, default=8000, help="--from-scratch: the tiny model's vocabulary")
    add_threads_arg(p)
    p.add_argument("--fast-dropout", action=argparse.BooleanOptionalAction, default=True,
                   help="gap-drawn dropout masks (train.py's --fast-dropout); --no-fast-dropout: torch's own, slower")
    p.add_argument("--verbose", action="store_true", help="also show transformers' loading/saving bars and warnings")
    return p


def _train(args: Namespace, train_tsv: Path, valid_tsv: Path, texts: list[str]) -> dict:
    """Fine-tune (or, from scratch, train the tiny model) with qgen's loop; returns the run summary."""
    from qgen.training.loop import train  # torch, as above

    scratch = args.model == SCRATCH
    if scratch:  # built here rather than by train() so the vocabulary size can be chosen
        model = str(build_tiny("tiny-t5", texts, args.output_dir / "tiny" / f"v{args.vocab_size}", args.vocab_size))
    else:
        model = args.model
    return train({
        "model": model, "train_file": str(train_tsv), "valid_file": str(valid_tsv),
        "output_dir": str(args.output_dir), "max_source_len": 256 if scratch else 128,
        "max_target_len": 48, "batch_size": args.batch_size, "warmup_steps": 30, "scheduler": "constant",
        "lr": args.lr or (2e-3 if scratch else 5e-4), "max_steps": steps(args),
        "max_minutes": args.minutes, "eval_steps": 50, "log_steps": 10, "threads": args.threads,
        "label_smoothing": 0.0, "seed": 0, "fast_dropout": args.fast_dropout,
        "overwrite": True,  # the demo's own directory: a second `make demo` starts over
        "context_window": "full" if scratch else "sentence",  # saved with best/: predict.py cuts paragraphs to it
    })


def steps(args: Namespace) -> int:
    """Optimiser steps: --max-steps, else the default of fine-tuning or from scratch."""
    return args.max_steps or (SCRATCH_STEPS if args.model == SCRATCH else STEPS)


def _answer(source: str) -> str:
    """The highlighted answer of an AQG-HL source, or the `answer:` field of an AQG source."""
    if "<hl>" in source:
        return source.split("<hl>")[1].strip()
    return source.removeprefix("answer:").split(" context:")[0].strip()


def _print_results(before: dict | None, after: dict, rows: list, label: str) -> None:
    """The metrics table (before and after), the verdict, and five held-out examples."""
    print("\nheld-out JSQuAD questions (BLEU-4 0-100, sacrebleu ja-mecab; the other figures are shares 0-1):")
    print(f"  {'':<22}" + "".join(f"{k:>20}" for k in SHOWN))
    if before is not None:
        print(f"  {'before fine-tuning':<22}" + "".join(f"{before[k]:>20.3f}" for k in SHOWN))
    print(f"  {label:<22}" + "".join(f"{after[k]:>20.3f}" for k in SHOWN))
    if before is not None:
        print("\n" + verdict(before, after))
    for row in rows[:: max(1, len(rows) // 5)][:5]:
        print(f"\nanswer:    {_answer(row['source'])}\ngenerated: {row['prediction']}\nreference: {row['target']}")


def verdict(before: dict, after: dict) -> str:
    """One line on whether fine-tuning helped, by BLEU-4 on the test rows (the figure the demo is about)."""
    b, a = before["bleu"], after["bleu"]
    if a > b:
        return f"fine-tuning improved BLEU-4 by {a - b:.2f} points ({b:.2f} → {a:.2f})."
    return (f"warning: after fine-tuning is NOT better than before (BLEU-4 {b:.2f} → {a:.2f}): too few steps or a "
            f"learning rate that does not suit this model? try more --max-steps, or another --lr")


@reports_input_errors
def main(argv: list[str] | None = None) -> int:
    """The demo end to end: data split, score before, fine-tune, score after, report; prints the paths written."""
    args = build_parser().parse_args(argv)
    if args.max_steps is not None and args.max_steps < 1:
        raise QgenInputError(f"must be at least 1, got {args.max_steps}", field="--max-steps")
    if not 0 <= args.minutes < float("inf"):  # also NaN
        raise QgenInputError(f"must be 0 (no limit) or a positive number of minutes, got {args.minutes}",
                             field="--minutes")
    start = time.perf_counter()
    console.configure(args.verbose)  # no "Loading weights" bar for each of the three loads
    from qgen.models.threads import set_threads  # torch: after the clock starts, so the time includes loading it

    threads = set_threads(args.threads)  # 0: from the machine's load
    print(f"torch: {describe(args.threads, threads)}", file=sys.stderr)
    args.threads = threads
    out = args.output_dir
    scratch = args.model == SCRATCH
    task, window = ("aqg", "full") if scratch else ("aqg_hl", "sentence")
    train_tsv, valid_tsv, test_tsv, texts = prepare(args.data_dir, out, task, window, args.test_limit)
    before: dict | None = None
    before_rows: list[dict] = []
    if not scratch:
        print(f"scoring {args.model} on {test_tsv} before fine-tuning …", file=sys.stderr)
        before, before_rows, _ = predict_and_score(args.model, test_tsv, out / "predictions_before.jsonl")
    summary = _train(args, train_tsv, valid_tsv, texts)
    print(format_summary(summary))
    print(f"trained {summary['steps']} steps in {summary['train_seconds']:.0f} s "
          f"({summary['steps'] / max(summary['train_seconds'], 1e-9):.2f} steps/s, torch on {threads} "
          f"thread{'s' if threads > 1 else ''})")
    after, rows, examples = predict_and_score(summary["best_dir"], test_tsv, out / "predictions.jsonl")
    write_report(out / "report.html", args.model, before, before_rows, after, examples)
    _print_results(before, after, rows, "from scratch" if scratch else "after fine-tuning")
    wall = time.perf_counter() - start
    write_json(out / "demo_summary.json", {"wall_seconds": round(wall, 1), "model": args.model, "before": before,
                                           "after": after, **summary})
    print(f"\nwall time {wall:.0f} s; written {out / 'report.html'}, {out / 'predictions.jsonl'}, "
          f"{out / 'demo_summary.json'}, {summary['best_dir']}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
