"""Throughput of qgen.evaluation.hallucination.hallucinations on real JSQuAD pairs (each question against its context).

    .venv/bin/python bench/bench_hallucination.py [--data PATH] [--copies N] [--workers 1 2] [--repeat 3]

`--copies N` makes N distinct variants of every pair (a numbered suffix on question and context) so that larger
corpora, where worker processes pay off, can be timed without a cache hit. Prints pairs/s per setting (best of
`--repeat`; for one worker also per CPU-second, which a busy machine disturbs less), the plain per-pair `hallucination()` for comparison, and the one-off start-up cost (loading ja_ginza and the Sudachi dictionary).
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from pathlib import Path

try:
    from qgen.evaluation import hallucination as H
except ImportError:  # a checkout without `pip install -e .`
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
    from qgen.evaluation import hallucination as H

DEFAULT_DATA = Path(os.environ.get("QGEN_DATA_DIR", Path(__file__).resolve().parents[2] / "shared" / "data"))


def load_pairs(path: Path) -> tuple[list[str], list[str]]:
    data = json.loads(path.read_text(encoding="utf-8"))["data"]
    pairs = [(q["question"], p["context"]) for a in data for p in a["paragraphs"] for q in p["qas"]]
    return [q for q, _ in pairs], [c for _, c in pairs]


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.ArgumentDefaultsHelpFormatter)
    ap.add_argument("--data", type=Path, default=DEFAULT_DATA / "jglue" / "jsquad-v1.3" / "valid-v1.3.json")
    ap.add_argument("--copies", type=int, default=1)
    ap.add_argument("--workers", type=int, nargs="+", default=[1, 2])
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--plain", type=int, default=500, help="pairs timed with the plain per-pair path (0 = skip)")
    args = ap.parse_args()
    cands, refs = load_pairs(args.data)
    if args.copies > 1:
        cands = [f"{q}（{k}）" for k in range(args.copies) for q in cands]
        refs = [f"{c}（{k}）" for k in range(args.copies) for c in refs]
    chars = sum(map(len, dict.fromkeys(cands))) + sum(map(len, dict.fromkeys(refs)))
    print(
        f"{len(cands)} pairs, {len(set(refs))} distinct references, {chars:,} characters of distinct text, "
        f"{os.cpu_count()} CPUs"
    )
    t = time.perf_counter()
    H.hallucinations(cands[:1], refs[:1], workers=1)
    print(f"start-up (ja_ginza + Sudachi dictionary): {time.perf_counter() - t:.2f} s")
    if args.plain:
        t = time.perf_counter()
        plain = [H.hallucination(c, r, H.QUESTION_STOP_WORDS) for c, r in zip(cands[: args.plain], refs[: args.plain])]
        dt = time.perf_counter() - t
        print(f"plain hallucination() per pair (GiNZA tokenizer Doc, no cache): {len(plain) / dt:,.0f} pairs/s")
    baseline = None
    for w in args.workers:
        best, best_cpu = float("inf"), float("inf")
        for _ in range(args.repeat):
            t, c = time.perf_counter(), time.process_time()
            out = H.hallucinations(cands, refs, H.QUESTION_STOP_WORDS, workers=w)
            best, best_cpu = min(best, time.perf_counter() - t), min(best_cpu, time.process_time() - c)
        baseline = out if baseline is None else baseline
        assert out == baseline, "results differ between worker counts"
        rate = sum(1 for h in out if h) / len(out)
        cpu = f", {len(cands) / best_cpu:,.0f} pairs per CPU-second of this process" if w == 1 else ""
        print(f"workers={w}: {len(cands) / best:,.0f} pairs/s ({best:.2f} s){cpu}, hallucination rate {rate:.3f}")


if __name__ == "__main__":
    main()
