"""`train.py` / `qgen train`: parse flags (over an optional YAML config), train, print where the best model is.

The flags are derived from qgen.training.config's dataclass groups by qgen.cli.dataclass_args, as every command's
are: every field is `--its-name`, its type, choices and help from the field, its default shown in --help.
"""

from __future__ import annotations

import argparse
import logging
import os
import shlex
import sys
from pathlib import Path

from qgen.cli.dataclass_args import add_dataclass_args
from qgen.cli.parser import ArgumentParser, command_prog, reports_input_errors
from qgen.core import console
from qgen.core.errors import os_error_message
from qgen.training.config import GROUPS, TrainConfig, apply_dict, load_yaml


def build_parser() -> argparse.ArgumentParser:
    """train.py's flags: `--config`, then one flag per field of each settings group (qgen.cli.dataclass_args)."""
    p = ArgumentParser(
        prog=command_prog("train.py"),
        description="Fine-tune a seq2seq or causal LM with qgen's explicit training loop.",
    )
    p.add_argument("--config", help="YAML file of settings; command-line flags override it")
    for group, cls in GROUPS.items():
        add_dataclass_args(p, cls, title=group, overrides=True)  # strings: coerced and checked by the config
    return p


def parse_args(argv: list[str] | None = None) -> TrainConfig:
    """The config the flags ask for: defaults < `--config FILE.yaml` < the flags given (strings, coerced and checked
    by qgen.training.config: a bad value is a QgenInputError naming the field)."""
    args = vars(build_parser().parse_args(argv))
    trusted = args.get("trust_remote_code") is True  # the command line's own --trust-remote-code
    cfg = load_yaml(args.pop("config"), refuse_trust=not trusted) if args.get("config") else TrainConfig()
    args.pop("config", None)
    return apply_dict(cfg, args, "command line")


def format_summary(s: dict) -> str:
    """The run summary as the lines train.py prints: steps, why it stopped, the best metric and where things are."""
    metric = "n/a (no validation file)" if s["best_metric"] is None else f"{s['metric']} {s['best_metric']:.4f}"
    start = "" if s.get("valid_start") is None else f" (start {s['valid_start']:.4f})"
    return (f"done: {s['steps']} steps ({s['stopped']}, {s['skipped_steps']} skipped non-finite); "
            f"best step {s['best_step']}, {metric}{start}\nbest model: {s['best_dir']}\nlast state: {s['last_dir']}\n"
            f"run log: {os.path.join(os.path.dirname(s['best_dir']), 'metrics.jsonl')} (loss.png, tensorboard/ beside it)")


def resume_command(argv: list[str]) -> str:
    """The command line that continues this run: the same flags plus --resume (under torchrun: its own launcher
    flags, which a worker cannot see, go where the placeholder is)."""
    prog = "qgen train" if Path(sys.argv[0]).name == "qgen" else "python train.py"
    flags = shlex.join([*prog.split()[1:], *[a for a in argv if a not in ("--resume", "--no-resume")], "--resume"])
    if "TORCHELASTIC_RUN_ID" in os.environ:
        return f"torchrun <the same launcher flags> {flags}"
    return f"{prog.split()[0]} {flags}"


@reports_input_errors
def main(argv: list[str] | None = None) -> int:
    """Exit codes: 0 done, 2 bad input (one `error:` line), 1 a failed checkpoint write or diverged training,
    130 / 143 stopped by SIGINT / SIGTERM after saving last/ (the resume command is printed)."""
    argv = list(sys.argv[1:] if argv is None else argv)
    logging.basicConfig(level=logging.INFO, format="%(levelname)s %(name)s: %(message)s")
    try:
        cfg = parse_args(argv)
        console.configure(cfg.run.verbose)  # transformers' bars and warnings only with --verbose
        from qgen.training.checkpoint import CheckpointWriteError, NonFiniteWeightsError  # torch: --help stays fast
        from qgen.training.distributed.ddp import RankTimeoutError  # torch, as above
        from qgen.training.loop import TrainingDiverged, TrainingInterrupted, train  # torch, as above

        try:
            summary = train(cfg)
        except (TrainingDiverged, CheckpointWriteError, NonFiniteWeightsError, RankTimeoutError) as e:
            print(f"error: {e}", file=sys.stderr)
            return 1
        except TrainingInterrupted as e:
            if os.environ.get("RANK", "0") == "0":
                print(f"interrupted: {e}\nresume with: {resume_command(argv)}", file=sys.stderr)
            return 128 + e.signum
    except OSError as e:  # e.g. disk full while writing metrics.jsonl: one line, not a traceback
        print(f"error: {os_error_message(e)}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print("interrupted (stopped at once; last/ holds the last saved step)", file=sys.stderr)
        return 130
    if os.environ.get("RANK", "0") == "0":
        print(format_summary(summary))
    return 0

if __name__ == "__main__":
    sys.exit(main())
