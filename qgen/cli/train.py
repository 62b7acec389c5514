"""`train.py` / `qgen train`: parse flags (over an optional YAML config), train, print where the best model is."""

from __future__ import annotations

import logging
import os
import shlex
import sys
from pathlib import Path

from qgen.cli.parser import reports_input_errors


def format_summary(s: dict) -> str:
    metric = "n/a (no validation file)" if s["best_metric"] is None else f"{s['metric']} {s['best_metric']:.4f}"
    start = "" if s.get("valid_start") is None else f" (start {s['valid_start']:.4f})"
    return (f"done: {s['steps']} steps ({s['stopped']}, {s['skipped_steps']} skipped non-finite); "
            f"best step {s['best_step']}, {metric}{start}\nbest model: {s['best_dir']}\nlast state: {s['last_dir']}\n"
            f"run log: {os.path.join(os.path.dirname(s['best_dir']), 'metrics.jsonl')} (loss.png, tensorboard/ beside it)")


def resume_command(argv: list[str]) -> str:
    """The command line that continues this run: the same flags plus --resume."""
    prog = "qgen train" if Path(sys.argv[0]).name == "qgen" else "python train.py"
    return shlex.join([*prog.split(), *[a for a in argv if a not in ("--resume", "--no-resume")], "--resume"])


@reports_input_errors
def main(argv: list[str] | None = None) -> int:
    """Exit codes: 0 done, 2 bad input (one `error:` line), 1 a failed checkpoint write or diverged training,
    130 / 143 stopped by SIGINT / SIGTERM after saving last/ (the resume command is printed)."""
    from qgen.training.config import parse_args

    argv = list(sys.argv[1:] if argv is None else argv)
    logging.basicConfig(level=logging.INFO, format="%(levelname)s %(name)s: %(message)s")
    try:
        cfg = parse_args(argv)
        from qgen.core import console

        console.configure(cfg.run.verbose)  # transformers' bars and warnings only with --verbose
        from qgen.training.checkpoint import CheckpointWriteError
        from qgen.training.loop import TrainingDiverged, TrainingInterrupted, train

        try:
            summary = train(cfg)
        except (TrainingDiverged, CheckpointWriteError) as e:
            print(f"error: {e}", file=sys.stderr)
            return 1
        except TrainingInterrupted as e:
            if os.environ.get("RANK", "0") == "0":
                print(f"interrupted: {e}\nresume with: {resume_command(argv)}", file=sys.stderr)
            return 128 + e.signum
    except OSError as e:  # e.g. disk full while writing metrics.jsonl: one line, not a traceback
        print(f"error: {f'{e.filename}: ' if e.filename else ''}{e.strerror or e}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print("interrupted (stopped at once; last/ holds the last saved step)", file=sys.stderr)
        return 130
    if os.environ.get("RANK", "0") == "0":
        print(format_summary(summary))
    return 0

if __name__ == "__main__":
    sys.exit(main())
