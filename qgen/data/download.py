"""Fetch the official data files, or copy them from a local mirror (`QGEN_DATA_MIRROR` / `--mirror`) on offline machines.

Files land under DEST with the mirror's layout (that of ../shared/data: `jglue/jsquad-v1.3/valid-v1.3.json`, …), so
DEST can itself serve as a mirror or as QGEN_DATA_DIR. Every copy is atomic and, where the sha256 is known, verified
before it replaces anything. Checksums are recorded only for files whose copy in the local mirror could be hashed here;
the others are None (their sha256 is printed after download so it can be recorded) — never guessed.
"""

from __future__ import annotations

import argparse
import hashlib
import http.client
import os
import sys
import urllib.error
import urllib.request
from dataclasses import dataclass
from pathlib import Path

from qgen.io import atomic_write

MIRROR_ENV = "QGEN_DATA_MIRROR"
# JGLUE has no release tags for the data files; the v1.3 files are versioned by name on the main branch.
_JGLUE = "https://raw.githubusercontent.com/yahoojapan/JGLUE/main/datasets"
_JAQKET = "https://jaqket.s3.ap-northeast-1.amazonaws.com/data/aio_01"  # JAQKET v1.0 (first AI王 competition)
_KORQUAD = "https://korquad.github.io/dataset"


@dataclass(frozen=True)
class Source:
    relpath: str  # path under DEST and under the mirror
    url: str
    sha256: str | None = None  # None: not available offline to hash, see module docstring
    size: int | None = None  # bytes, when known


SOURCES: dict[str, list[Source]] = {
    "jsquad": [
        Source("jglue/jsquad-v1.3/train-v1.3.json", f"{_JGLUE}/jsquad-v1.3/train-v1.3.json"),  # 62,697 questions
        Source("jglue/jsquad-v1.3/valid-v1.3.json", f"{_JGLUE}/jsquad-v1.3/valid-v1.3.json",
               "fb0a57a35281ff03bbe7f0e878cff5b577985fbe6fcb242e7e8ddb63d1c0ab11", 1976638),
    ],
    "jcommonsenseqa": [
        Source("jglue/jcommonsenseqa-v1.3/train-v1.3.json", f"{_JGLUE}/jcommonsenseqa-v1.3/train-v1.3.json",
               "9b55fae5ecb3aedd6f8ce5bc09196c3b629864668ec6c18eee4d65c0aa48229e", 1879961),
        Source("jglue/jcommonsenseqa-v1.3/valid-v1.3.json", f"{_JGLUE}/jcommonsenseqa-v1.3/valid-v1.3.json",
               "0d8d76f3bfa0d174866939882faccdd01fbc2bcd5a76c43748ba0c40a7b3b8d4", 235633),
    ],
    "jaqket": [
        Source("jaqket/train_questions.json", f"{_JAQKET}/train_questions.json"),
        Source("jaqket/dev1_questions.json", f"{_JAQKET}/dev1_questions.json"),
        Source("jaqket/dev2_questions.json", f"{_JAQKET}/dev2_questions.json"),
    ],
    "korquad": [
        Source("korquad/KorQuAD_v1.0_train.json", f"{_KORQUAD}/KorQuAD_v1.0_train.json"),
        Source("korquad/KorQuAD_v1.0_dev.json", f"{_KORQUAD}/KorQuAD_v1.0_dev.json",
               "25ffeb51e6c51ec02c071b60a10188e10005c144110f0d876b26079d80a35bdf", 3881058),
    ],
}


class FetchError(Exception):
    """A file could not be fetched or did not match its checksum (nothing was written)."""


def sha256_file(path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def _copy_verified(reader, target: Path, source: Source) -> str:
    """Stream `reader` into `target` atomically; the file appears only if size and sha256 match. Returns the sha256."""
    h, size = hashlib.sha256(), 0
    with atomic_write(target, "wb") as out:
        for block in iter(lambda: reader.read(1 << 20), b""):
            h.update(block)
            size += len(block)
            out.write(block)
        if source.size is not None and size != source.size:
            raise FetchError(f"{source.relpath}: size {size} bytes, expected {source.size}")
        if source.sha256 is not None and h.hexdigest() != source.sha256:
            raise FetchError(f"{source.relpath}: sha256 {h.hexdigest()}, expected {source.sha256}")
    return h.hexdigest()


def fetch(source: Source, dest, mirror=None, *, force: bool = False, timeout: float = 60.0) -> str:
    """Put `source` under `dest`; returns a status line. Raises FileNotFoundError (not in mirror) or FetchError."""
    target = Path(dest) / source.relpath
    if target.is_file() and not force:
        if source.sha256 is None:
            return f"present {source.relpath} (no known checksum; sha256 {sha256_file(target)})"
        if sha256_file(target) == source.sha256:
            return f"present {source.relpath} (sha256 ok)"
    if mirror is not None:
        src = Path(mirror) / source.relpath
        if not src.is_file():
            raise FileNotFoundError(source.relpath)
        with open(src, "rb") as f:
            digest = _copy_verified(f, target, source)
        how = f"copied {source.relpath} from {mirror}"
    else:
        try:
            with urllib.request.urlopen(source.url, timeout=timeout) as response:
                digest = _copy_verified(response, target, source)
        except (urllib.error.URLError, OSError, http.client.HTTPException) as e:
            raise FetchError(f"{source.relpath}: cannot download {source.url}: {getattr(e, 'reason', e)}") from None
        how = f"downloaded {source.relpath}"
    check = "sha256 ok" if source.sha256 else f"no known checksum; sha256 {digest}"
    return f"{how} ({check})"


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="download",
        description=f"Fetch official data files (or copy them from ${MIRROR_ENV} / --mirror), verified by sha256.",
        formatter_class=argparse.ArgumentDefaultsHelpFormatter,
    )
    p.add_argument("datasets", nargs="+", choices=[*SOURCES, "all"], help="what to fetch")
    p.add_argument("--dest", required=True, type=Path, help="folder to fill (mirror layout)")
    p.add_argument("--mirror", type=Path, default=os.environ.get(MIRROR_ENV) or None,
                   help=f"copy from this local folder instead of downloading (default: ${MIRROR_ENV})")
    p.add_argument("--force", action="store_true", help="fetch again even if a verified copy is present")
    p.add_argument("--timeout", type=float, default=60.0, help="seconds per download connection")
    return p


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    names = list(SOURCES) if "all" in args.datasets else list(dict.fromkeys(args.datasets))
    if args.mirror is not None and not Path(args.mirror).is_dir():
        print(f"error: {args.mirror}: mirror folder not found", file=sys.stderr)
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
                failed.append(source.relpath)
                print(f"failed: {e}", file=sys.stderr)
    print(f"{done} files in place under {args.dest}; {len(missing)} missing in mirror; {len(failed)} failed")
    return 1 if missing or failed else 0


if __name__ == "__main__":
    sys.exit(main())
