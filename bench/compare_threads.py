"""torch's threads on a busy CPU: the demo's fine-tuning for a fixed number of steps with each `--threads` count given,
one run after the other, each with the load average when it started (qgen.core.threads picks the count by that load).

    QGEN_DATA_DIR=../shared/data .venv/bin/python bench/compare_threads.py --steps 20 --threads 2 1

Prints one JSON line per run: threads, steps, training seconds, steps/s, the 1-minute load at its start.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
if str(REPO) not in sys.path:
    sys.path.insert(0, str(REPO))
os.environ.setdefault("HF_HUB_OFFLINE", "1")

from qgen.cli.demo import SHIPPED, prepare  # noqa: E402
from qgen.cli.parser import reports_input_errors  # noqa: E402
from qgen.core.threads import load_average  # noqa: E402
from qgen.training.loop import train  # noqa: E402


@reports_input_errors
def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--steps", type=int, default=20)
    p.add_argument("--threads", type=int, nargs="+", default=[2, 1])
    p.add_argument("--data-dir", type=Path, default=Path(os.environ.get("QGEN_DATA_DIR", "../shared/data")))
    args = p.parse_args(argv)
    with tempfile.TemporaryDirectory() as tmp:
        out = Path(tmp)
        train_tsv, _, _, _ = prepare(args.data_dir, out, "aqg_hl", "sentence", 10)
        for n, threads in enumerate(args.threads):
            load = load_average()
            s = train({"model": SHIPPED, "train_file": str(train_tsv), "output_dir": str(out / f"run{n}"),
                       "max_source_len": 128, "max_target_len": 48, "batch_size": 16, "warmup_steps": 30,
                       "scheduler": "constant", "lr": 5e-4, "max_steps": args.steps, "log_steps": 1000,
                       "label_smoothing": 0.0, "seed": 0, "threads": threads, "context_window": "sentence"})
            print(json.dumps({"threads": threads, "steps": s["steps"], "seconds": s["train_seconds"],
                              "steps_per_s": round(s["steps"] / s["train_seconds"], 3),
                              "load_at_start": round(load, 2), "at": time.strftime("%H:%M:%S")}), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
