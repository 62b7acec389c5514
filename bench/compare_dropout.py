"""Does gap-drawn dropout (`--fast-dropout`, qgen.models.dropout) train as well as torch's? Same fine-tune, both ways.

    QGEN_DATA_DIR=../shared/data .venv/bin/python bench/compare_dropout.py [--steps 200] [--seeds 0 1]

The demo's task (qgen.cli.demo: qgen-small-ja fine-tuned on JSQuAD AQG-HL, paragraphs split train / valid / test) for a
fixed number of optimiser steps, once per seed with gap dropout and once with torch's `F.dropout`, alternating. Each
run reports its loop time, its best validation loss and BLEU-4 / ROUGE-L of greedy questions on the held-out test
rows. The two dropouts draw the same Bernoulli(p) masks from different random streams, so they should differ by no
more than two seeds of one of them differ from each other.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
if str(REPO) not in sys.path:
    sys.path.insert(0, str(REPO))
os.environ.setdefault("HF_HUB_OFFLINE", "1")

from qgen.cli.demo import SHIPPED, predict_and_score, prepare  # noqa: E402
from qgen.cli.parser import reports_input_errors  # noqa: E402
from qgen.training.loop import train  # noqa: E402


def run(args, files, fast: bool, seed: int) -> dict:
    train_tsv, valid_tsv, test_tsv, _ = files
    out = args.output_dir / f"{'gap' if fast else 'torch'}-seed{seed}"
    started = time.perf_counter()
    summary = train({"model": SHIPPED, "train_file": str(train_tsv), "valid_file": str(valid_tsv),
                     "output_dir": str(out), "max_source_len": 128, "max_target_len": 48, "batch_size": 16,
                     "warmup_steps": 30, "scheduler": "constant", "lr": 5e-4, "max_steps": args.steps,
                     "eval_steps": args.steps // 4, "log_steps": 50, "label_smoothing": 0.0, "seed": seed,
                     "fast_dropout": fast, "overwrite": True})  # the bench's own scratch run: a rerun starts over
    seconds = time.perf_counter() - started
    scores, _, _ = predict_and_score(summary["best_dir"], test_tsv, out / "predictions.jsonl")
    return {"dropout": "gap" if fast else "torch", "seed": seed, "train_s": round(seconds, 1),
            "best_valid_loss": round(summary["best_metric"], 4), "bleu": round(scores["bleu"], 2),
            "rougeL": round(scores["rougeL"], 4)}


@reports_input_errors
def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--data-dir", type=Path, default=Path(os.environ.get("QGEN_DATA_DIR", REPO.parent / "shared" / "data")))
    p.add_argument("--output-dir", type=Path, default=REPO / "runs" / "compare-dropout")
    p.add_argument("--steps", type=int, default=200)
    p.add_argument("--seeds", type=int, nargs="+", default=[0, 1])
    p.add_argument("--test-limit", type=int, default=200)
    args = p.parse_args(argv)
    files = prepare(args.data_dir, args.output_dir, "aqg_hl", "sentence", args.test_limit)
    results = [run(args, files, fast, seed) for seed in args.seeds for fast in (True, False)]
    print(f"\n{args.steps} steps of batch 16, qgen-small-ja on JSQuAD AQG-HL; test: {args.test_limit} held-out questions")
    print(f"  {'dropout':<8}{'seed':>5}{'train s':>9}{'best valid loss':>17}{'BLEU-4':>8}{'ROUGE-L':>9}")
    for r in results:
        print(f"  {r['dropout']:<8}{r['seed']:>5}{r['train_s']:>9.1f}{r['best_valid_loss']:>17.4f}{r['bleu']:>8.2f}"
              f"{r['rougeL']:>9.4f}")
    for kind in ("gap", "torch"):
        rs = [r for r in results if r["dropout"] == kind]
        print(f"  {kind:<8} mean{'':>1}{statistics.mean(r['train_s'] for r in rs):>9.1f}"
              f"{statistics.mean(r['best_valid_loss'] for r in rs):>17.4f}{statistics.mean(r['bleu'] for r in rs):>8.2f}"
              f"{statistics.mean(r['rougeL'] for r in rs):>9.4f}")
    (args.output_dir / "results.json").write_text(json.dumps(results, indent=1), encoding="utf-8")
    print(f"written {args.output_dir / 'results.json'}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
