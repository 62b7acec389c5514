"""Overhead of qgen's training loop over a bare forward/backward/step on the same batches (target: under 5%).

    .venv/bin/python bench/bench_loop_overhead.py [--steps 40] [--repeat 3] [--batch-size 16]

Both sides train tiny-t5 on real JSQuAD AQG rows with the same length-grouped batches (epoch 0, seed 0), AdamW,
gradient clipping. qgen's per-step cost is taken as time(train with S2 steps) - time(train with S1 steps), which cancels
model loading, tokenisation-cache reads and the final checkpoint save; the bare loop times the same batches S1..S2 with
`model(**batch).loss`. One torch thread, CPU time of this process (a busy machine disturbs it less than wall time);
wall time (best of --repeat alternating runs) is printed too.
"""

from __future__ import annotations

import argparse
import contextlib
import os
import shutil
import statistics
import sys
import tempfile
import time
from pathlib import Path

try:
    import qgen  # noqa: F401
except ImportError:  # a checkout without `pip install -e .`
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")

import torch  # noqa: E402

from qgen.data.examples import read_examples  # noqa: E402
from qgen.data.jsquad import convert  # noqa: E402
from qgen.data.squad import read_squad  # noqa: E402
from qgen.data.tsv import write_tsv  # noqa: E402
from qgen.models.formats.seq2seq import Seq2SeqFormat  # noqa: E402
from qgen.models.loading import load_model, load_tokenizer, resolve  # noqa: E402
from qgen.training import batching  # noqa: E402
from qgen.training.loop import train  # noqa: E402

DEFAULT_DATA = Path(os.environ.get("QGEN_DATA_DIR", Path(__file__).resolve().parents[2] / "shared" / "data"))


def clock():
    return time.process_time(), time.perf_counter()


def qgen_run(work: Path, tsv: Path, steps: int, batch_size: int) -> tuple[float, float]:
    out = work / "run"
    for d in ("last", "best", "tensorboard"):
        shutil.rmtree(out / d, ignore_errors=True)
    conf = {"model": "tiny-t5", "train_file": str(tsv), "output_dir": str(out), "max_steps": steps,
            "batch_size": batch_size, "max_source_len": 256, "max_target_len": 48, "log_steps": 10, "seed": 0}
    with open(os.devnull, "w") as devnull, contextlib.redirect_stderr(devnull), contextlib.redirect_stdout(devnull):
        c0, w0 = clock()
        train(conf)  # the progress bar is drawn (to /dev/null) as in a real run
        c1, w1 = clock()
    return c1 - c0, w1 - w0


def bare_run(work: Path, tsv: Path, first: int, last: int, batch_size: int) -> tuple[float, float]:
    path = str(work / "run" / "tiny" / "tiny-t5")
    sequence_format = Seq2SeqFormat(load_tokenizer(path), max_source_len=256, max_target_len=48)
    feats = batching.encode_cached(read_examples(tsv), sequence_format, tsv, work / "run" / "cache",
                                   {"max_source_len": 256, "max_target_len": 48})
    batches = batching.make_batches(batching.lengths(feats), batch_size, seed=0, epoch=0)[first:last]
    model = load_model(path).train()
    opt = torch.optim.AdamW(model.parameters(), lr=3e-4)
    c0, w0 = clock()
    for b in batches:
        batch = sequence_format.collate([feats[i] for i in b])
        loss = model(**batch).loss
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        opt.step()
        opt.zero_grad(set_to_none=True)
    c1, w1 = clock()
    return c1 - c0, w1 - w0


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--data", type=Path, default=DEFAULT_DATA / "jglue" / "jsquad-v1.3" / "valid-v1.3.json")
    p.add_argument("--steps", type=int, default=40, help="steps timed (S2 - S1)")
    p.add_argument("--warm", type=int, default=5, help="S1: steps in the shorter run")
    p.add_argument("--batch-size", type=int, default=16)
    p.add_argument("--repeat", type=int, default=3)
    args = p.parse_args()
    torch.set_num_threads(1)
    import logging

    logging.disable(logging.WARNING)
    work = Path(tempfile.mkdtemp(prefix="qgen-bench-"))
    try:
        questions, _ = read_squad(args.data)
        examples = convert(questions, "aqg")
        tsv = work / "train.tsv"
        write_tsv(tsv, examples)
        resolve("tiny-t5", [e.source for e in examples[:2000]] + [e.target for e in examples[:2000]], work / "run" / "tiny")
        s1, s2 = args.warm, args.warm + args.steps
        qgen_run(work, tsv, 1, args.batch_size)  # warm: builds the tokenisation cache
        q_cpu, q_wall, b_cpu, b_wall = [], [], [], []
        for _ in range(args.repeat):
            (c2, w2), (c1, w1) = qgen_run(work, tsv, s2, args.batch_size), qgen_run(work, tsv, s1, args.batch_size)
            q_cpu.append(c2 - c1)
            q_wall.append(w2 - w1)
            c, w = bare_run(work, tsv, s1, s2, args.batch_size)
            b_cpu.append(c)
            b_wall.append(w)
        qc, bc = statistics.median(q_cpu), statistics.median(b_cpu)
        qw, bw = min(q_wall), min(b_wall)
        print(f"{args.steps} steps of batch {args.batch_size} (tiny-t5, JSQuAD AQG, 1 thread), {args.repeat} runs "
              "(CPU: median, wall: best):")
        print(f"  qgen loop : {qc:.2f} s CPU ({1000 * qc / args.steps:.1f} ms/step), {qw:.2f} s wall")
        print(f"  bare loop : {bc:.2f} s CPU ({1000 * bc / args.steps:.1f} ms/step), {bw:.2f} s wall")
        print(f"  overhead  : {100 * (qc / bc - 1):+.1f}% CPU, {100 * (qw / bw - 1):+.1f}% wall")
    finally:
        shutil.rmtree(work, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
