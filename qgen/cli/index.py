"""`qgen index`: build / query a local BM25 index; the index and the retrieval are qgen.quiz.retrieval's."""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from qgen.cli.parser import ArgumentParser, command_prog, output_dir, reports_input_errors
from qgen.core.outputs import check_outputs
from qgen.quiz.retrieval import build_index, load_index


def build_parser() -> argparse.ArgumentParser:
    """`qgen index build|search`'s flags (each sub-command its own)."""
    p = ArgumentParser(prog=command_prog("qgen index"), description="Build or query a local BM25 index (bm25s, MeCab).")
    sub = p.add_subparsers(dest="command", required=True)
    b = sub.add_parser("build", help="index a corpus", formatter_class=argparse.ArgumentDefaultsHelpFormatter)
    b.add_argument("--corpus", nargs="+", required=True, type=Path, help=".txt lines, JSONL/JSON passages, or SQuAD JSON")
    b.add_argument("--output", required=True, type=output_dir, help="index directory to write")
    b.add_argument("--k1", type=float, default=1.5, help="BM25 k1")
    b.add_argument("--b", type=float, default=0.75, help="BM25 b")
    s = sub.add_parser("search", help="query an index", formatter_class=argparse.ArgumentDefaultsHelpFormatter)
    s.add_argument("--index", required=True, type=Path, help="index directory")
    s.add_argument("--query", required=True, nargs="+", help="one or more queries")
    s.add_argument("-k", type=int, default=5, help="passages per query")
    s.add_argument("--json", action="store_true", help="print JSON lines instead of text")
    return p


@reports_input_errors
def main(argv: list[str] | None = None) -> int:
    """`qgen index build` writes an index; `qgen index search` prints the best passages per query."""
    args = build_parser().parse_args(argv)
    if args.command == "build":
        check_outputs([("--output", args.output)], [("--corpus", c) for c in args.corpus], directories=True)
        meta = build_index(args.corpus, args.output, args.k1, args.b)
        print(f"indexed {meta['passages']} passages ({meta['duplicates_dropped']} duplicates, "
              f"{meta['empty_dropped']} empty dropped) into {args.output}")
        return 0
    index = load_index(args.index)
    for query, hits in zip(args.query, index.search(args.query, args.k)):
        if args.json:
            print(json.dumps({"query": query, "hits": hits}, ensure_ascii=False))
            continue
        print(f"# {query}")
        for rank, h in enumerate(hits, 1):
            print(f"{rank}\t{h['score']:.3f}\t{h['id']}\t{h['title']}: {h['text'][:120]}")
    return 0
