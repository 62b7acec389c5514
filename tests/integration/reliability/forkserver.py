"""Start train.py's code in a fresh process without paying for `import torch, transformers` each time.

Run as `python forkserver.py` (with the training environment: OMP_NUM_THREADS=1 …). It imports what a training run
needs once, runs no torch op (so no thread pool exists to be broken by fork), then serves JSON lines on stdin:

    {"op": "run", "argv": [...], "env": {...}, "cwd": "...", "stdout": PATH, "stderr": FIFO, "fault"?: {...}}
        → {"pid": N}
    {"op": "wait", "pid": N} → {"returncode": R}   (negative: killed by signal -R, as subprocess reports it)

Each run is a forked child that sets argv/env/cwd, points fd 1 and 2 at the given files and calls
`qgen.cli.train.main(argv)` — exactly what train.py runs — then exits with its code. The test signals or kills the
child's pid directly. Used by the kill sweep, where ~25 runs would otherwise spend most of their time importing.
`fault` (see install_fault) makes one write in the child fail as a full disk does. A child prints every thread's stack
on SIGABRT (faulthandler), which the test sends to a run that hangs.
"""

from __future__ import annotations

import errno
import faulthandler
import io
import json
import os
import signal
import sys
import traceback


def preload() -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot  # noqa: F401  (loss.png)
    import safetensors.torch  # noqa: F401
    import torch  # noqa: F401
    import torch.utils.tensorboard  # noqa: F401
    import tqdm.auto  # noqa: F401
    from transformers import AutoModelForSeq2SeqLM, AutoTokenizer, T5ForConditionalGeneration  # noqa: F401

    import qgen.cli.train  # noqa: F401
    import qgen.training.loop  # noqa: F401


def install_fault(spec: dict) -> None:
    """Make write number spec["nth"] of spec["writer"] fail midway: half its bytes reach the file, then
    OSError(ENOSPC). Writers: "torch.save" (last/'s trainer_state.pt), "safetensors" (every model.safetensors)."""
    calls = {"n": 0}

    def due() -> bool:
        calls["n"] += 1
        return calls["n"] == spec["nth"]

    if spec["writer"] == "torch.save":
        import torch

        real_save = torch.save

        def save(obj, f, *args, **kw):
            if not due():
                return real_save(obj, f, *args, **kw)
            buf = io.BytesIO()
            real_save(obj, buf, *args, **kw)
            _write_half(buf.getvalue(), f)

        torch.save = save
    elif spec["writer"] == "safetensors":
        import transformers.modeling_utils as mu
        from safetensors.torch import save as to_bytes

        real_file = mu.safe_save_file

        def save_file(tensors, filename, metadata=None):
            if not due():
                return real_file(tensors, filename, metadata=metadata)
            _write_half(to_bytes(tensors, metadata=metadata), filename)

        mu.safe_save_file = save_file
    else:
        raise ValueError(spec)


def _write_half(data: bytes, path) -> None:
    with open(path, "wb") as f:
        f.write(data[: len(data) // 2])
    raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC), str(path))


def child(req: dict, err_fd: int) -> None:
    code = 1
    try:
        os.chdir(req["cwd"])
        os.environ.clear()
        os.environ.update(req["env"])
        stdout = os.open(req["stdout"], os.O_WRONLY | os.O_CREAT | os.O_TRUNC)
        os.dup2(stdout, 1)
        os.close(stdout)
        os.dup2(err_fd, 2)
        os.close(err_fd)
        null = os.open(os.devnull, os.O_RDONLY)
        os.dup2(null, 0)
        faulthandler.enable(all_threads=True)  # on the FIFO: a hung run's stacks reach the test (SIGABRT)
        for s in (signal.SIGINT, signal.SIGTERM):
            signal.signal(s, signal.default_int_handler if s == signal.SIGINT else signal.SIG_DFL)
        sys.argv = ["train.py", *req["argv"]]
        if req.get("fault"):
            install_fault(req["fault"])
        from qgen.cli.train import main

        code = main(req["argv"])
    except SystemExit as e:
        code = e.code if isinstance(e.code, int) else 1
    except BaseException:
        traceback.print_exc()
    finally:
        for stream in (sys.stdout, sys.stderr):
            try:
                stream.flush()
            except Exception:
                pass
        os._exit(code)


def serve() -> None:
    out = sys.stdout
    for line in sys.stdin:
        req = json.loads(line)
        if req["op"] == "run":
            # opened here, before the fork, so the test's reader sees a writer from the moment it learns the pid
            err_fd = os.open(req["stderr"], os.O_WRONLY)
            pid = os.fork()
            if pid == 0:
                child(req, err_fd)
            os.close(err_fd)
            reply = {"pid": pid}
        elif req["op"] == "wait":
            _, status = os.waitpid(req["pid"], 0)
            reply = {"returncode": os.waitstatus_to_exitcode(status)}
        else:
            reply = {"error": f"unknown op {req['op']!r}"}
        out.write(json.dumps(reply) + "\n")
        out.flush()


if __name__ == "__main__":
    preload()
    print(json.dumps({"ready": os.getpid()}), flush=True)
    serve()
