"""`qgen serve`: the question-generation playground (http://127.0.0.1:8000/) and its JSON API (/docs), offline.

    qgen serve --model qgen-small-ja [--port N] [--models runs/]

Listens on 127.0.0.1 unless --host says otherwise (then a warning: the API has no authentication). Requests name a
model from the list (the shipped ones and the checkpoints under --models), never a path. Ctrl-C / SIGTERM stop
taking new connections, let the requests in flight finish (uvicorn's graceful shutdown), then exit.
"""

from __future__ import annotations

import logging
import signal
import sys

from qgen.cli.dataclass_args import add_dataclass_args, from_args
from qgen.cli.parser import ArgumentParser, command_prog, reports_input_errors
from qgen.core import console
from qgen.core.errors import QgenInputError
from qgen.serve.registry import Registry
from qgen.serve.settings import ServeSettings


def build_parser() -> ArgumentParser:
    """`qgen serve`'s flags, one per ServeSettings field (models, where to listen, caps, batching)."""
    p = ArgumentParser(prog=command_prog("qgen serve"), description=__doc__)
    add_dataclass_args(p, ServeSettings, metavars={int: "N", float: "X"})
    p.add_argument("--verbose", action="store_true", help="also show transformers' loading bars and warnings")
    return p


@reports_input_errors
def main(argv: list[str] | None = None) -> int:
    """`qgen serve`: load the default model (an error line if it cannot), then serve until stopped."""
    parser = build_parser()
    args = parser.parse_args(argv)
    verbose = args.__dict__.pop("verbose")
    try:
        settings = from_args(ServeSettings, args)
    except ValueError as e:
        parser.error(str(e))
    console.configure(verbose)
    if not settings.loopback:
        print(f"warning: listening on {settings.host}, not 127.0.0.1: anyone who can reach this machine can use the "
              "API (it has no authentication)", file=sys.stderr)
    registry = Registry(settings.model, settings.models)
    for reason in registry.skipped:
        print(f"warning: skipped a checkpoint: {reason}", file=sys.stderr)
    import uvicorn  # the server's libraries: --help and a bad --model / --models stay fast

    from qgen.serve.app import create_app  # as above (fastapi, and torch through the engine)
    from qgen.serve.engine import Engine  # as above
    engine = Engine(registry, settings)
    print(f"models: {', '.join(registry.entries)} (default {registry.default})", file=sys.stderr)
    try:
        engine.load_now(registry.get(None))  # a model that cannot load is an error line before the port opens
        engine.warm()  # GiNZA / MeCab dictionaries: loaded now, not on the first request
    except QgenInputError:
        engine.close()
        raise
    logging.getLogger("qgen").setLevel(logging.INFO)
    config = uvicorn.Config(create_app(engine, preload=False), host=settings.host, port=settings.port,
                            log_level="info" if verbose else "warning", access_log=verbose,
                            timeout_graceful_shutdown=int(settings.timeout_s) + 5)
    server = uvicorn.Server(config)
    print(f"qgen serve: http://{settings.host}:{settings.port}/ (API docs at /docs); Ctrl-C stops", file=sys.stderr,
          flush=True)
    stopped_by: list[int] = []
    for sig in (signal.SIGINT, signal.SIGTERM):
        # uvicorn handles the signal (stop accepting, finish the requests in flight), then re-raises it to the handler
        # that was there before: this one, so the command ends with its own message and exit code 0, not killed
        signal.signal(sig, lambda number, frame: stopped_by.append(number))
    server.run()
    how = f" ({signal.Signals(stopped_by[0]).name}, after the requests in flight)" if stopped_by else ""
    print(f"qgen serve: stopped{how}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
