"""`qgen download` (data_prep/download.py): fetch the official data files, or copy them from QGEN_DATA_MIRROR;
the sources and the verified fetch are qgen.data.download."""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path

from qgen.cli.parser import ArgumentParser, command_prog
from qgen.data.download import MIRROR_ENV, SOURCES, FetchError, fetch


def build_parser() -> argparse.ArgumentParser:
    """`qgen download`'s flags: which data sets, where to, and from which mirror."""
    p = ArgumentParser(
        prog=command_prog("download"),
        description=f"Fetch official data files (or copy them from ${MIRROR_ENV} / --mirror), verified by sha256.",
    )
    p.add_argument("datasets", nargs="+", choices=[*SOURCES, "all"], help="what to fetch")
    p.add_argument("--dest", required=True, type=Path, help="folder to fill (mirror layout)")
    p.add_argument("--mirror", type=Path, default=os.environ.get(MIRROR_ENV) or None,
                   help=f"copy from this local folder instead of downloading (default: ${MIRROR_ENV})")
    p.add_argument("--force", action="store_true", help="fetch again even if a verified copy is present")
    p.add_argument("--timeout", type=float, default=60.0, help="seconds per download connection")
    return p


def main(argv: list[str] | None = None) -> int:
    """`qgen download`: fetch (or copy) and verify each data set, then say where each file is."""
    args = build_parser().parse_args(argv)
    names = list(SOURCES) if "all" in args.datasets else list(dict.fromkeys(args.datasets))
    if args.mirror is not None and not Path(args.mirror).is_dir():
        print(f"error: {args.mirror}: mirror folder not found", file=sys.stderr)
        return 2
    if Path(args.dest).exists() and not Path(args.dest).is_dir():
        print(f"error: {args.dest}: --dest is not a directory", file=sys.stderr)
        return 2
    missing, failed, done = [], [], 0
    for name in names:
        for source in SOURCES[name]:
            try:
                print(fetch(source, args.dest, args.mirror, force=args.force, timeout=args.timeout))
                done += 1
            except FileNotFoundError:
                missing.append(source.relpath)
                print(f"missing in mirror: {source.relpath}", file=sys.stderr)
            except FetchError as e:
                if args.mirror is not None:  # the mirror holds another file than the published one: bad input
                    detail = str(e).removeprefix(f"{source.relpath}: ")
                    print(f"error: {Path(args.mirror) / source.relpath}: {detail} (not the published file)",
                          file=sys.stderr)
                    return 2
                failed.append(source.relpath)
                print(f"failed: {e}", file=sys.stderr)
    print(f"{done} files in place under {args.dest}; {len(missing)} missing in mirror; {len(failed)} failed")
    return 1 if missing or failed else 0


if __name__ == "__main__":
    sys.exit(main())
