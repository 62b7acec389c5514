"""`python -m qgen.demo` (`make demo`): answer-aware question generation on JSQuAD, end to end on a CPU in minutes.

Default: start from `qgen-small-ja` (the small Japanese T5 shipped in the package, trained on JaQuAD only), score it
on held-out JSQuAD paragraphs, fine-tune it on the other JSQuAD paragraphs (AQG-HL: the answer's sentence with the
answer marked `<hl>`) under a wall-time budget, score it again, and print BLEU-4 / ROUGE-L / hallucination rate before
and after plus five held-out examples — the same steps as fine-tuning `sonoisa/t5-base-japanese` on a GPU, which
`--model DIR` does with any seq2seq checkpoint. `--from-scratch`: the built-in 2-layer `tiny-t5` trained from random
weights (AQG on the whole paragraph), as the first release did: within minutes it learns one generic question and does
not read its input — the loop learning, not a question generator.

The held-out questions (10% of the paragraphs) are split by paragraph into a validation half, which picks `best/`,
and a test half, which is scored; no paragraph is in two of the three sets.
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from pathlib import Path

from qgen.cli.parser import reports_input_errors
from qgen.cli.predict import records
from qgen.cli.train import format_summary
from qgen.core import console
from qgen.core.errors import QgenInputError
from qgen.core.files import write_json, write_jsonl
from qgen.data.examples import read_examples
from qgen.data.jsquad import convert, holdout_split
from qgen.data.squad import read_squad
from qgen.data.tsv import write_tsv_files
from qgen.evaluation import report as reports
from qgen.evaluation.records import evaluate_records, worst_first
from qgen.inference.loader import load_inference_model
from qgen.models.tiny import build_tiny

JSQUAD = Path("jglue") / "jsquad-v1.3" / "valid-v1.3.json"
SCRATCH = "tiny-t5"
SHIPPED = "qgen-small-ja"
SHOWN = ("bleu", "rougeL", "hallucination_rate", "distinct_rate", "on_topic_rate")


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


def predict_and_score(model: str, test_tsv: Path, predictions: Path, report: Path | None = None) -> tuple[dict, list]:
    """Beam-4 questions for the test rows (qgen's predict path), scored as `qgen eval` scores them."""
    from qgen.inference.generation import GenerationSettings, Generator  # torch: --help and bad flags stay fast

    examples = read_examples(test_tsv)
    im = load_inference_model(model)
    outputs = Generator(im).generate(examples, GenerationSettings(num_beams=4, max_new_tokens=48), batch_size=32)
    rows = records(examples, outputs)
    write_jsonl(predictions, rows)
    result = evaluate_records(rows)
    write_json(predictions.with_suffix(".metrics.json"), {"model": model, **result["metrics"]})
    if report is not None:
        reports.write_report(report, result["metrics"], worst_first(result["examples"]), title=f"qgen demo: {model}")
    return result["metrics"], rows


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="python -m qgen.demo", description=__doc__.split("\n")[0],
                                formatter_class=argparse.ArgumentDefaultsHelpFormatter)
    p.add_argument("--data-dir", type=Path, default=Path(os.environ.get("QGEN_DATA_DIR", "../shared/data")),
                   help="folder holding jglue/jsquad-v1.3/valid-v1.3.json")
    p.add_argument("--output-dir", type=Path, default=Path("runs/demo"))
    p.add_argument("--model", default=SHIPPED,
                   help="seq2seq model to fine-tune: the shipped qgen-small-ja, or a checkpoint directory; tiny-t5 = "
                        "train the built-in tiny model from scratch")
    p.add_argument("--from-scratch", dest="model", action="store_const", const=SCRATCH, help="same as --model tiny-t5")
    p.add_argument("--minutes", type=float, default=None,
                   help="training wall-time budget (default: 2.5 fine-tuning, 3.5 from scratch)")
    p.add_argument("--max-steps", type=int, default=2000, help="upper bound on optimiser steps")
    p.add_argument("--lr", type=float, default=None, help="peak learning rate (default: 5e-4 fine-tuning, 2e-3 from "
                   "scratch; constant after 30 warmup steps)")
    p.add_argument("--batch-size", type=int, default=16)
    p.add_argument("--test-limit", type=int, default=200, help="held-out test questions scored before and after")
    p.add_argument("--vocab-size", type=int, default=8000, help="--from-scratch: the tiny model's vocabulary")
    p.add_argument("--threads", type=int, default=0, help="torch CPU threads (0 = torch default)")
    p.add_argument("--fast-dropout", action=argparse.BooleanOptionalAction, default=True,
                   help="gap-drawn dropout masks (train.py's --fast-dropout); --no-fast-dropout: torch's own, slower")
    p.add_argument("--verbose", action="store_true", help="also show transformers' loading/saving bars and warnings")
    return p


def _train(args, train_tsv: Path, valid_tsv: Path, texts: list[str]) -> dict:
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
        "lr": args.lr or (2e-3 if scratch else 5e-4), "max_steps": args.max_steps,
        "max_minutes": args.minutes or (3.5 if scratch else 2.5), "eval_steps": 50, "log_steps": 10,
        "label_smoothing": 0.0, "seed": 0, "fast_dropout": args.fast_dropout,
        "overwrite": True,  # the demo's own directory: a second `make demo` starts over
    })


def _answer(source: str) -> str:
    """The highlighted answer of an AQG-HL source, or the `answer:` field of an AQG source."""
    if "<hl>" in source:
        return source.split("<hl>")[1].strip()
    return source.removeprefix("answer:").split(" context:")[0].strip()


def _print_results(before: dict | None, after: dict, rows: list, label: str) -> None:
    print("\nheld-out JSQuAD questions (BLEU-4 0-100, sacrebleu ja-mecab; the other figures are shares 0-1):")
    print(f"  {'':<22}" + "".join(f"{k:>20}" for k in SHOWN))
    if before is not None:
        print(f"  {'before fine-tuning':<22}" + "".join(f"{before[k]:>20.3f}" for k in SHOWN))
    print(f"  {label:<22}" + "".join(f"{after[k]:>20.3f}" for k in SHOWN))
    for row in rows[:: max(1, len(rows) // 5)][:5]:
        print(f"\nanswer:    {_answer(row['source'])}\ngenerated: {row['prediction']}\nreference: {row['target']}")


@reports_input_errors
def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    start = time.perf_counter()
    import torch  # after the clock starts: the time reported includes loading torch

    console.configure(args.verbose)  # no "Loading weights" bar for each of the three loads
    if args.threads:
        torch.set_num_threads(args.threads)
    out = args.output_dir
    scratch = args.model == SCRATCH
    task, window = ("aqg", "full") if scratch else ("aqg_hl", "sentence")
    train_tsv, valid_tsv, test_tsv, texts = prepare(args.data_dir, out, task, window, args.test_limit)
    before = None
    if not scratch:
        print(f"scoring {args.model} on {test_tsv} before fine-tuning …", file=sys.stderr)
        before, _ = predict_and_score(args.model, test_tsv, out / "predictions_before.jsonl")
    summary = _train(args, train_tsv, valid_tsv, texts)
    print(format_summary(summary))
    after, rows = predict_and_score(summary["best_dir"], test_tsv, out / "predictions.jsonl", out / "report.html")
    _print_results(before, after, rows, "from scratch" if scratch else "after fine-tuning")
    wall = time.perf_counter() - start
    write_json(out / "demo_summary.json", {"wall_seconds": round(wall, 1), "model": args.model, "before": before,
                                           "after": after, **summary})
    print(f"\nwall time {wall:.0f} s; written {out / 'report.html'}, {out / 'predictions.jsonl'}, "
          f"{out / 'demo_summary.json'}, {summary['best_dir']}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
