"""`qgen quiz tune-gate`: choose the retrieval gate (P, M) from two result.json files, with no model calls.

The command over qgen.quiz.gate (the first line above is its --help description)."""

from __future__ import annotations

import argparse
import json
import zlib
from pathlib import Path

import numpy as np

from qgen.cli.parser import ArgumentParser, command_prog, output_file
from qgen.core.files import write_json
from qgen.quiz.gate import evaluate_gate, paired, subset, tune


def build_parser() -> argparse.ArgumentParser:
    """`qgen quiz tune-gate`'s flags: the two result files, the held-out split and the budget."""
    p = ArgumentParser(prog=command_prog("qgen quiz tune-gate"), description=__doc__.split("\n")[0])
    p.add_argument("--without", required=True, type=Path, help="result.json of a run without retrieval")
    p.add_argument("--with", dest="with_", metavar="WITH", required=True, type=Path, help="result.json retrieving for every question")
    p.add_argument("--test-without", type=Path, help="held-out split: result.json without retrieval")
    p.add_argument("--test-with", type=Path, help="held-out split: result.json with retrieval for every question")
    p.add_argument("--tune-fraction", type=float, default=None,
                   help="tune on this fraction of the questions (by crc32 of the id), report on the rest")
    p.add_argument("--budget", type=float, default=None, help="retrieve for at most this fraction of questions")
    p.add_argument("--output", type=output_file, default=None, help="write the chosen gate and figures as JSON")
    return p


def main(argv: list[str] | None = None) -> int:
    """`qgen quiz tune-gate`: the chosen gate printed (and written with --output), with its held-out figures."""
    parser = build_parser()
    args = parser.parse_args(argv)
    if (args.test_without is None) != (args.test_with is None):
        parser.error("--test-without and --test-with go together")
    if args.tune_fraction is not None and not 0 < args.tune_fraction < 1:
        parser.error("--tune-fraction must be between 0 and 1")
    d = paired(args.without, args.with_)
    test = None
    if args.test_without:
        test = paired(args.test_without, args.test_with)
    elif args.tune_fraction is not None:
        u = np.array([zlib.crc32(i.encode("utf-8")) / 2**32 for i in d["ids"]])
        d, test = subset(d, u < args.tune_fraction), subset(d, u >= args.tune_fraction)
    result = tune(d, args.budget)
    if test is not None:
        result["held_out"] = evaluate_gate(test, result["gate_top1"], result["gate_margin"])
    result["budget"] = args.budget
    print(json.dumps(result, ensure_ascii=False, indent=2))
    print(f"use: --gate-top1 {result['gate_top1']:.6g} --gate-margin {result['gate_margin']:.6g}")
    if args.output:
        write_json(args.output, result)
        print(f"wrote {args.output}")
    return 0
