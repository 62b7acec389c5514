"""Outputs, checked before any work: an output never overwrites an input, and it can be written at all.

"The same file" is decided by the file system, not by spelling: `os.path.samefile` (one inode: a symlink, a hard
link, `./a` vs `a`) where both exist, else the paths with symlinks and `..` resolved (`os.path.realpath`). A
directory output (`qgen export --output`, `qgen merge --output`) is replaced as a whole, so an input inside it, or it
inside an input, is refused too. Two outputs that are one file are refused as well (the second write would replace
the first). The error is a QgenInputError naming the output and the flag, so the command prints one `error:` line.
"""

from __future__ import annotations

import os
import shutil
from collections.abc import Iterable
from pathlib import Path

from qgen.core.errors import PathArg, QgenInputError

Named = tuple[str, "PathArg | None"]  # (flag, path); None: not given, skipped


def same_file(a: PathArg, b: PathArg) -> bool:
    """True when `a` and `b` name one file (or directory): the same inode, or the same resolved path."""
    try:
        return os.path.samefile(a, b)
    except OSError:  # one of them does not exist (yet): compare where the paths lead
        return os.path.realpath(a) == os.path.realpath(b)


def inside(child: PathArg, parent: PathArg) -> bool:
    """True when `child` is `parent` or lies under it, once symlinks and `..` are resolved."""
    c, p = Path(os.path.realpath(child)), Path(os.path.realpath(parent))
    return c == p or p in c.parents or same_file(child, parent)


def _given(named: Iterable[Named]) -> list[tuple[str, PathArg]]:
    return [(flag, path) for flag, path in named if path is not None]


def check_outputs(outputs: Iterable[Named], inputs: Iterable[Named], *, directories: bool = False) -> None:
    """Raise QgenInputError when an output is an input (or, with `directories`, contains one or lies inside one),
    or when two outputs are one file. Call it before reading or loading anything."""
    given_outputs = _given(outputs)
    given_inputs = _given(inputs)
    for i, (flag, out) in enumerate(given_outputs):
        for in_flag, src in given_inputs:
            if same_file(out, src):
                raise QgenInputError(f"the same file as {in_flag} ({src}): writing it would destroy the input; "
                                     f"choose another {flag}", path=out, field=flag)
            if directories and inside(src, out):
                raise QgenInputError(f"contains {in_flag} ({src}), and {flag} is replaced as a whole: the input would "
                                     f"be destroyed; choose another {flag}", path=out, field=flag)
            if directories and inside(out, src):
                raise QgenInputError(f"inside {in_flag} ({src}): writing it would change the input; choose another "
                                     f"{flag}", path=out, field=flag)
        for other_flag, other in given_outputs[:i]:
            if same_file(out, other):
                raise QgenInputError(f"the same file as {other_flag} ({other}): one would overwrite the other; choose "
                                     f"another {flag}", path=out, field=flag)


# ---- can an output be written? (checked before any work) -----------------------------------------------------------


def output_problem(path: PathArg, directory: bool = False) -> str | None:
    """Why `path` cannot be written as a file (or, `directory`, created / filled as a directory), or None: empty, a
    directory where a file is meant (or the reverse), not a regular file (/dev/null, a FIFO: an atomic write would
    replace it), a parent that is a file, a parent not writable, a full disk. Checked before a command starts its
    work, so a run is not lost at its end; the write itself can still fail (the disk fills meanwhile)."""
    if not str(path).strip():
        return "empty path"
    path = Path(path)
    if path.exists() or path.is_symlink():
        if directory and not path.is_dir():
            return "exists and is not a directory"
        if not directory and path.is_dir():
            return "is a directory, expected a file path"
        if not directory and not path.is_file():
            return "not a regular file"
    folder = path if directory and path.is_dir() else path.parent
    while not folder.exists() and folder != folder.parent:
        folder = folder.parent
    if not folder.is_dir():
        return f"{folder} is not a directory"
    if not os.access(folder, os.W_OK | os.X_OK):
        return f"{folder} is not writable"
    if shutil.disk_usage(folder).free == 0:
        return f"no space left on device ({folder})"
    return None


def check_output(path: PathArg, field: str | None = None, directory: bool = False) -> Path:
    """`path` as a Path when `output_problem` finds nothing; else a QgenInputError naming it and the reason."""
    problem = output_problem(path, directory)
    if problem:
        raise QgenInputError(f"cannot write here: {problem}", path=path, field=field)
    return Path(path)
