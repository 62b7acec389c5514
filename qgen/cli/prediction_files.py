"""The predictions file and its `--eval` metrics file: one set of rules for predict.py, its `--task summarize|instruct`
and the demo (which paths, checked before any work, and in which order they are written)."""

from __future__ import annotations

import argparse
from argparse import Namespace
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING

from qgen.cli.parser import output_file
from qgen.core.files import write_jsonl
from qgen.core.outputs import check_outputs
from qgen.data.examples import Example
from qgen.evaluation.records import metrics_path as default_metrics_path

if TYPE_CHECKING:
    from qgen.inference.generation import Output  # torch: only its type is named here


def add_metrics_args(p: argparse.ArgumentParser) -> None:
    """`--metrics` and `--no-hallucination`, the flags of `--eval`'s scoring beside the command's own `--eval`."""
    p.add_argument("--metrics", type=output_file, default=None,
                   help="metrics JSON for --eval (default: beside OUTPUT, named as qgen eval names it: NAME.metrics.json)")
    p.add_argument("--no-hallucination", action="store_true", help="--eval without the GiNZA hallucination check")


def records(examples: Sequence[Example], outputs: Sequence[Output]) -> list[dict]:
    """The predictions file's rows, `{"id", "source", "prediction", "target"}` (+ `predictions` when several were
    asked for): what `qgen eval` reads."""
    rows = []
    for ex, out in zip(examples, outputs):
        row: dict[str, object] = {"id": ex.id, "source": ex.source + (f"\n{ex.input}" if ex.input else ""),
               "prediction": out.texts[0] if out.texts else "", "target": ex.target}
        if len(out.texts) > 1:
            row["predictions"] = out.texts
        rows.append(row)
    return rows


def eval_metrics_path(args: Namespace) -> Path:
    """Where --eval saves the metrics: --metrics, else OUTPUT.metrics.json."""
    return args.metrics or default_metrics_path(args.output)


def metrics_path(args: Namespace) -> Path | None:
    """The metrics file a run writes: eval_metrics_path under --eval, else --metrics (None: none)."""
    return eval_metrics_path(args) if args.eval else args.metrics


def check_output_paths(args: Namespace) -> None:
    """--output and the metrics file are neither --input nor each other (qgen.core.outputs), before any work."""
    check_outputs([("--output", args.output), ("--metrics", metrics_path(args))], [("--input", args.input)])


def write_predictions(args: Namespace, rows: list[dict]) -> None:
    """The predictions file; under --eval the stale metrics file is removed first and the new one is written last,
    so metrics beside a predictions file never describe an older one (a failure in between leaves none)."""
    stale = metrics_path(args) if args.eval else None
    if stale is not None:
        stale.unlink(missing_ok=True)
    write_jsonl(args.output, rows)
