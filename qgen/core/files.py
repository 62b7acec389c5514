"""Atomic file and directory writes: a reader never sees a half-written output, a crash never leaves one; and whether
an output can be written at all, checked before a command starts its work (`output_problem`)."""

from __future__ import annotations

import contextlib
import ctypes
import errno
import glob
import json
import os
import shutil
import signal
import socket
import tempfile
import time
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import IO, Any

from qgen.core.errors import PathArg

try:
    import fcntl
except ImportError:  # Windows
    fcntl = None  # type: ignore[assignment]


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


_UMASK = _umask()
_MODE = 0o666 & ~_UMASK  # what a plain open() would give a new file


@contextlib.contextmanager
def atomic_write(path: PathArg, mode: str = "w", encoding: str | None = "utf-8",
                 newline: str | None = "\n") -> Iterator[IO[Any]]:
    """Write to a temp file beside `path`, fsync, then rename over it; on error the temp file is removed."""
    target = Path(path)
    target.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{target.name}.", suffix=".tmp", dir=target.parent)
    binary = "b" in mode
    try:
        with os.fdopen(fd, mode, encoding=None if binary else encoding, newline=None if binary else newline) as f:
            yield f
            f.flush()
            os.fsync(f.fileno())
        os.chmod(tmp, _MODE)  # mkstemp creates 0600; give the file the mode a plain open() would
        os.replace(tmp, target)
    except BaseException as e:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp)
        raise _named(e, tmp, target) from e


def _named(e: BaseException, tmp, path: Path) -> BaseException:
    """An OSError about the temp file (a full disk …), or about no file (a write to an open file), re-said about
    `path`, the output the user asked for: its message must not name a temp file that is gone."""
    if not isinstance(e, OSError) or e.errno is None:
        return e
    if e.filename is None or isinstance(e.filename, int):
        return type(e)(e.errno, e.strerror, str(path))
    if str(e.filename).startswith(str(tmp)):
        return type(e)(e.errno, e.strerror, str(path) + str(e.filename)[len(str(tmp)):])
    return e


def write_text(path: PathArg, text: str) -> None:
    """`text` in UTF-8 with atomic_write: a reader never sees half of it."""
    with atomic_write(path) as f:
        f.write(text)


def write_json(path: PathArg, obj: object, indent: int | None = 2) -> None:
    """`obj` as JSON with atomic_write; non-ASCII kept readable (Japanese and Korean text stays as written)."""
    with atomic_write(path) as f:
        json.dump(obj, f, ensure_ascii=False, indent=indent)
        f.write("\n")


def write_jsonl(path: PathArg, rows: Iterable[dict]) -> int:
    """One JSON object a line with atomic_write; the count, for the `written N to PATH` line."""
    n = 0
    with atomic_write(path) as f:
        for row in rows:
            f.write(json.dumps(row, ensure_ascii=False) + "\n")
            n += 1
    return n


@contextlib.contextmanager
def atomic_files(*paths: PathArg) -> Iterator[list[Path]]:
    """Files that belong together (a report and its metrics): yield a temp path beside each (same suffix, so a writer
    that picks its format by suffix still does); when the block succeeds the stale copy of the LAST path is removed,
    the others are renamed over their targets, and the last one goes in last. The last file marks the set complete:
    at any instant there is the old set, or new files without the last one — never a new file beside an old last
    one (a report over metrics of another run). On error every temp file is removed and the old set is untouched."""
    targets = [Path(p) for p in paths]
    temps = []
    try:
        for path in targets:
            path.parent.mkdir(parents=True, exist_ok=True)
            fd, tmp = tempfile.mkstemp(prefix=f".{path.stem}.", suffix=f".tmp{path.suffix}", dir=path.parent)
            os.close(fd)
            temps.append(Path(tmp))
        yield temps
        for temp in temps:
            os.chmod(temp, _MODE)
        targets[-1].unlink(missing_ok=True)
        for temp, path in zip(temps, targets):
            os.replace(temp, path)
    except BaseException as e:
        for temp in temps:
            with contextlib.suppress(FileNotFoundError):
                os.unlink(temp)
        for temp, path in zip(temps, targets):  # an error about a temp file is said about the file asked for
            e = _named(e, temp, path)
        raise e from None


def _plain_modes(root: Path) -> None:
    """Give every file and folder under `root` the mode a plain open() / mkdir() would (umask applied): writers
    that go through a temp file of their own (safetensors' save_file: 0600) otherwise leave model.safetensors
    unreadable to the group while its neighbours are 0644. Execute bits are kept."""
    for folder, dirs, files in os.walk(root):
        for name in dirs:
            os.chmod(os.path.join(folder, name), 0o777 & ~_UMASK)
        for name in files:
            path = os.path.join(folder, name)
            st = os.lstat(path)
            if not os.path.islink(path):
                os.chmod(path, (_MODE | (st.st_mode & 0o111)) & ~_UMASK)


def _fsync_tree(root: Path) -> None:
    """fsync every file under `root` and the folders themselves, so a renamed-in directory survives a power cut."""
    for folder, _, files in os.walk(root):
        for name in files:
            with open(os.path.join(folder, name), "rb") as f:
                os.fsync(f.fileno())
        _fsync_dir(folder)


def _fsync_dir(folder: PathArg) -> None:
    with contextlib.suppress(OSError):  # not every platform / file system can fsync a directory
        fd = os.open(folder, os.O_RDONLY)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)


_RENAME_EXCHANGE, _AT_FDCWD = 2, -100


def _exchange(a: Path, b: Path) -> bool:
    """Swap two existing directories in one atomic step (Linux renameat2 RENAME_EXCHANGE); False where unsupported."""
    try:
        libc = ctypes.CDLL(None, use_errno=True)
        renameat2 = libc.renameat2
    except (OSError, AttributeError):
        return False
    if renameat2(_AT_FDCWD, os.fsencode(a), _AT_FDCWD, os.fsencode(b), _RENAME_EXCHANGE) == 0:
        return True
    err = ctypes.get_errno()
    if err in (errno.EINVAL, errno.ENOSYS, errno.EOPNOTSUPP, errno.ENOTSUP):
        return False
    raise OSError(err, os.strerror(err), str(a))


@contextlib.contextmanager
def atomic_dir(path: PathArg, point: str | None = None) -> Iterator[Path]:
    """Yield a temp directory beside `path`; on success it replaces `path`.

    Where the OS allows it (Linux), the new and the old directory are exchanged in one step, so at every instant
    `path` is either the complete old or the complete new directory, even under kill -9; elsewhere the old one is
    moved to `.NAME.old` first (`recover_dir` puts it back after a crash between the two renames). Leftovers of a
    killed writer (`.NAME.*.tmp`) are removed by `remove_leftovers`. `point` names pause_point hooks (tests only).
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent))
    os.chmod(tmp, 0o777 & ~_UMASK)  # mkdtemp makes 0700
    try:
        if point:
            pause_point(f"{point}:tmpdir")
        yield tmp
        _plain_modes(tmp)
        _fsync_tree(tmp)
        if point:
            pause_point(f"{point}:swap")
    except BaseException as e:
        shutil.rmtree(tmp, ignore_errors=True)
        raise _named(e, tmp, path) from e
    if path.exists() and _exchange(tmp, path):
        old = tmp  # path is the new copy, tmp holds the old one
    else:
        old = path.with_name(f".{path.name}.old")
        shutil.rmtree(old, ignore_errors=True)
        if path.exists():
            os.replace(path, old)
        os.replace(tmp, path)
    _fsync_dir(path.parent)
    if point:
        pause_point(f"{point}:swapped")
    shutil.rmtree(old, ignore_errors=True)


def recover_dir(path: PathArg) -> None:
    """Undo what a crash inside atomic_dir's fallback (two renames) can leave: only `.NAME.old` → put it back."""
    path = Path(path)
    old = path.with_name(f".{path.name}.old")
    if not path.exists() and old.is_dir():
        old.rename(path)
    elif old.is_dir():
        shutil.rmtree(old, ignore_errors=True)


def remove_leftovers(path: PathArg) -> list[Path]:
    """Remove `.NAME.*.tmp` temp directories/files a killed writer left beside `path`. Only call this while no other
    process writes `path` (e.g. under the run's DirLock). Returns what was removed."""
    path = Path(path)
    gone = []
    for p in path.parent.glob(f".{glob.escape(path.name)}.*.tmp"):
        if p.is_dir() and not p.is_symlink():
            shutil.rmtree(p, ignore_errors=True)
        else:
            p.unlink(missing_ok=True)
        gone.append(p)
    return gone


# ---- one writer per output directory ---------------------------------------------------------------------------------


class DirLockedError(RuntimeError):
    """Another live process holds the directory's lock."""


class DirLock:
    """An exclusive lock on a directory: `DIR/.qgen.lock`, held with flock(2) and holding the owner's pid and host.

    The kernel drops a flock when its process dies (even by kill -9), so a lock file left by a dead run is simply
    taken over; a clean exit removes the file. Where flock does not exist (Windows), the pid in the file decides.
    """

    NAME = ".qgen.lock"

    def __init__(self, directory: PathArg):
        self.path = Path(directory) / self.NAME
        self._fd: int | None = None
        self._created_dir = False
        self.previous: str = ""  # what a stale lock file said (for a note), "" when there was none

    def acquire(self) -> DirLock:
        """Take the lock or raise DirLockedError naming the owner: two runs writing one directory corrupt both."""
        self._created_dir = not self.path.parent.exists()
        self.path.parent.mkdir(parents=True, exist_ok=True)
        while True:
            fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o644)
            try:
                held = not self._try_lock(fd)
                info = os.pread(fd, 4096, 0).decode("utf-8", "replace").strip()
                if held:
                    raise DirLockedError(f"in use by another run ({info or 'owner unknown'}); wait for it to finish "
                                         f"or use another output directory (the lock is {self.path})")
                if os.fstat(fd).st_ino != os.stat(self.path).st_ino:  # removed and re-created while we waited
                    raise FileNotFoundError
            except FileNotFoundError:
                os.close(fd)
                continue
            except BaseException:
                os.close(fd)
                raise
            break
        self.previous = info
        os.ftruncate(fd, 0)
        os.pwrite(fd, f"pid {os.getpid()} on {socket.gethostname()}, since {time.strftime('%Y-%m-%d %H:%M:%S')}\n"
                  .encode(), 0)
        self._fd = fd
        return self

    @staticmethod
    def _try_lock(fd: int) -> bool:
        if fcntl is not None:
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                return True
            except BlockingIOError:
                return False
        info = os.pread(fd, 4096, 0).decode("utf-8", "replace").split()  # no flock: is the recorded pid alive?
        return not (len(info) > 1 and info[0] == "pid" and info[1].isdigit() and _alive(int(info[1])))

    def release(self) -> None:
        """Remove the lock file before closing, so a waiter that re-checks the inode takes a fresh one."""
        if self._fd is None:
            return
        with contextlib.suppress(OSError):
            self.path.unlink()  # unlink while still holding the lock: a waiter re-checks the inode
        os.close(self._fd)
        self._fd = None
        if self._created_dir:  # a run that failed before writing anything leaves no empty output directory
            with contextlib.suppress(OSError):
                self.path.parent.rmdir()

    def __enter__(self) -> DirLock:
        return self.acquire()

    def __exit__(self, *exc: object) -> None:
        self.release()


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


# ---- test-only hook ---------------------------------------------------------------------------------------------------

TEST_PAUSE_ENV = "QGEN_TEST_PAUSE_AT"
PAUSE_POLL_S = 0.05  # how often a paused run looks whether it was woken
_woken = False  # set by wake_paused (from a signal handler): a plain flag, never a lock


def pause_point(name: str) -> None:
    """Test-only, a no-op unless `name` is in the comma-separated environment variable QGEN_TEST_PAUSE_AT (never set
    it in real runs). Then print `QGEN_TEST_PAUSED <name>` to stderr and wait here until the process is killed or a signal
    handler calls `wake_paused()`. tests/integration/reliability uses it to kill or signal a run at an exact point: inside a
    step, during validation, at each stage of a checkpoint write (names: see qgen.training.loop and atomic_dir)."""
    _kill_point(name)
    spec = os.environ.get(TEST_PAUSE_ENV)
    if not spec or name not in spec.split(","):
        return
    global _woken
    os.write(2, f"\nQGEN_TEST_PAUSED {name}\n".encode())
    while not _woken:
        time.sleep(PAUSE_POLL_S)  # a handler that runs inside the sleep sets the flag; the next look sees it
    _woken = False


def wake_paused() -> None:
    """Let a pause_point return: a signal handler calls it so the signalled run goes on to its clean exit.

    It only sets a flag. A Python signal handler runs in the main thread between two of its bytecodes, so a handler
    that takes a lock deadlocks whenever the signal comes while that same thread holds the lock: with a
    threading.Event here, a SIGTERM landing inside the paused thread's own Event.wait hung the run for good (seen as a
    rare reliability-test hang on a busy machine; tests/integration/reliability/test_signals.py sweeps every point)."""
    global _woken
    _woken = True


TEST_KILL_ENV = "QGEN_TEST_KILL_AT"


def _kill_point(name: str) -> None:
    """Test-only, a no-op unless QGEN_TEST_KILL_AT is set (never in real runs): a comma-separated chain of
    `RANK@POINT[@SIGNAL]`. The process of that rank sends itself SIGNAL (SIGKILL unless named; SIGSTOP: a hung rank)
    when it reaches that point, so one torchrun launch with `--max-restarts` loses a rank at a chain of exact points
    (tests/integration/test_elastic.py). Which entry is current: with QGEN_TEST_KILL_DONE (a file each kill appends
    `ATTEMPT ENTRY` to), the number of kills made by earlier torchrun attempts (an attempt that failed for another
    reason uses none); without it, the attempt number (TORCHELASTIC_RESTART_COUNT)."""
    spec = os.environ.get(TEST_KILL_ENV)
    if not spec:
        return
    entries = spec.split(",")
    attempt = int(os.environ.get("TORCHELASTIC_RESTART_COUNT", "0") or 0)
    done_file = os.environ.get("QGEN_TEST_KILL_DONE")
    if done_file:
        lines = Path(done_file).read_text().splitlines() if Path(done_file).is_file() else []
        current = sum(1 for line in lines if int(line.split()[0]) < attempt)
    else:
        current = attempt
    if current >= len(entries):
        return
    rank, _, rest = entries[current].partition("@")
    point, _, sig_name = rest.partition("@")
    if point == name and rank == os.environ.get("RANK", "0"):
        sig = signal.Signals[sig_name or "SIGKILL"]
        if done_file:
            with open(done_file, "a", encoding="utf-8") as f:
                f.write(f"{attempt} {entries[current]}\n")
        os.write(2, f"\nQGEN_TEST_KILLED rank {rank} at {name} (attempt {attempt}, {sig.name})\n".encode())
        os.kill(os.getpid(), sig)
