"""`train.py` / `qgen train`: parse flags (over an optional YAML config), train, print where the best model is."""

from __future__ import annotations

import logging
import os
import sys

from qgen.errors import QgenInputError


def format_summary(s: dict) -> str:
    metric = "n/a (no validation file)" if s["best_metric"] is None else f"{s['metric']} {s['best_metric']:.4f}"
    start = "" if s.get("valid_start") is None else f" (start {s['valid_start']:.4f})"
    return (f"done: {s['steps']} steps ({s['stopped']}, {s['skipped_steps']} skipped non-finite); "
            f"best step {s['best_step']}, {metric}{start}\nbest model: {s['best_dir']}\nlast state: {s['last_dir']}")


def main(argv: list[str] | None = None) -> int:
    from qgen.config import parse_args

    logging.basicConfig(level=logging.INFO, format="%(levelname)s %(name)s: %(message)s")
    try:
        cfg = parse_args(argv)
        from qgen.train import TrainingDiverged, train

        try:
            summary = train(cfg)
        except TrainingDiverged as e:
            print(f"error: {e}", file=sys.stderr)
            return 1
    except QgenInputError as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    if os.environ.get("RANK", "0") == "0":
        print(format_summary(summary))
    return 0


if __name__ == "__main__":
    sys.exit(main())
