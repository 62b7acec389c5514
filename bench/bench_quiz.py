"""Time per question of the quiz scorers (and of retrieval) on real JCommonsenseQA valid items.

    .venv/bin/python bench/bench_quiz.py [--model runs/quiz/best] [--n 200] [--batch-size 8] [--index INDEX]

Without `--model` a random-weight tiny-gpt-neox is built (its tokenizer trained on JCommonsenseQA train prompts) in
a temporary directory — the speed of the scoring code around a model of that size, not of a useful model. Without
`--index` one is built over the JSQuAD valid contexts (build time printed). For every scoring method it prints
seconds per question for the plain pass and for a pass with a `[参考]` block for every question (BM25 search time
reported separately), best of `--repeat`, plus the machine's CPU count and load average (timings on a shared machine
vary with the load).
"""

from __future__ import annotations

import argparse
import os
import shutil
import sys
import tempfile
import time
from pathlib import Path

try:
    import qgen  # noqa: F401
except ImportError:  # a checkout without `pip install -e .`
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from qgen.core.files import write_json  # noqa: E402
from qgen.data.quiz import read_quizzes, render  # noqa: E402

DEFAULT_DATA = Path(os.environ.get("QGEN_DATA_DIR", Path(__file__).resolve().parents[2] / "shared" / "data"))


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.ArgumentDefaultsHelpFormatter)
    ap.add_argument("--model", default=None, help="checkpoint directory (default: a random tiny-gpt-neox)")
    ap.add_argument("--data", type=Path, default=DEFAULT_DATA / "jglue")
    ap.add_argument("--index", type=Path, default=None, help="BM25 index (default: built over JSQuAD valid contexts)")
    ap.add_argument("--n", type=int, default=200, help="questions timed")
    ap.add_argument("--batch-size", type=int, default=8)
    ap.add_argument("--methods", nargs="+", default=["choice-token", "loglik", "generate"])
    ap.add_argument("--repeat", type=int, default=2)
    args = ap.parse_args()
    tmp = Path(tempfile.mkdtemp(prefix="bench_quiz."))
    try:
        run(args, tmp)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


def run(args, tmp: Path) -> None:
    import torch

    from qgen.models.loading import resolve
    from qgen.quiz.pipeline import load_for_quiz
    from qgen.quiz.prompt import read_quiz
    from qgen.quiz.retrieval import build_index, load_index, retrieve_for
    from qgen.quiz.scoring import QuizScorer

    cq = args.data / "jcommonsenseqa-v1.3"
    valid, _ = read_quizzes(cq / "valid-v1.3.json", "jcommonsenseqa")
    write_json(tmp / "valid.json", [render(q, "eval") for q in valid[: args.n]])
    items = read_quiz(tmp / "valid.json")
    model_path = args.model
    if model_path is None:
        train, _ = read_quizzes(cq / "train-v1.3.json", "jcommonsenseqa")
        texts = [render(q, "train")["instruction"] + render(q, "train")["output"] for q in train[:2000]]
        model_path = resolve("tiny-gpt-neox", texts, tmp)
    index_path = args.index
    if index_path is None:
        t = time.perf_counter()
        build_index([args.data / "jsquad-v1.3" / "valid-v1.3.json"], tmp / "index")
        print(f"index build (JSQuAD valid contexts): {time.perf_counter() - t:.2f} s")
        index_path = tmp / "index"
    t = time.perf_counter()
    index = load_index(index_path)
    print(f"index load: {time.perf_counter() - t:.3f} s ({len(index)} passages)")
    t = time.perf_counter()
    passages = [retrieve_for(index, it.question, it.choices) for it in items]
    search = (time.perf_counter() - t) / len(items)
    model, tok, causal_format, max_len = load_for_quiz(str(model_path), None, None, "cpu", "auto")
    print(f"model {model_path} ({sum(p.numel() for p in model.parameters()):,} parameters), {len(items)} questions, "
          f"batch {args.batch_size}, {os.cpu_count()} CPUs, torch threads {torch.get_num_threads()}, "
          f"load average {os.getloadavg()[0]:.2f}")
    print(f"BM25 search (5 queries per question): {search * 1000:.1f} ms/question")
    print(f"{'method':<14} {'plain ms/q':>11} {'[参考] ms/q':>12} {'prompt tok':>11} {'with [参考]':>12}")
    for method in args.methods:
        scorer = QuizScorer(model, tok, causal_format, method, max_len=max_len, batch_size=args.batch_size,
                            max_new_tokens=8)
        best_plain = best_ref = float("inf")
        for _ in range(args.repeat):
            t = time.perf_counter()
            plain = scorer.score(items)
            best_plain = min(best_plain, time.perf_counter() - t)
            t = time.perf_counter()
            ref = scorer.score(items, passages)
            best_ref = min(best_ref, time.perf_counter() - t)
        n = len(items)
        print(f"{method:<14} {best_plain / n * 1000:>11.1f} {best_ref / n * 1000:>12.1f} "
              f"{sum(s.prompt_tokens for s in plain) / n:>11.0f} {sum(s.prompt_tokens for s in ref) / n:>12.0f}")


if __name__ == "__main__":
    main()
