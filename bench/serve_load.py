"""Load test of `qgen serve` on loopback: N concurrent clients for a fixed time, then the batching gain.

    .venv/bin/python bench/serve_load.py                         # qgen-small-ja, 16 clients for 60 s
    .venv/bin/python bench/serve_load.py --clients 16 --duration 60 --baseline-duration 30 --output load.json

Starts its own server (127.0.0.1, a free port; nothing else is contacted) and sends POST /v1/questions for real
JSQuAD v1.3 validation paragraphs and their answers (cycled; tests/fixtures rows without a data folder). Three phases,
each bounded in time and in requests (--max-requests):
  1. sequential: one client, one request at a time (what a batch command calling the API in a loop gets);
  2. loaded: --clients clients at once, micro-batching on (the server's defaults);
  3. loaded, no batching: the same clients against a second server started with --max-batch 1.
Reports errors (any non-200 or failed connection), p50 / p99 latency and requests/s of each phase, the gain of
batching (phase 2 over phase 3) and over sequential requests (phase 2 over phase 1), and the server's batch sizes.
"""

from __future__ import annotations

import argparse
import http.client
import json
import os
import statistics
import sys
import threading
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(REPO), str(REPO / "tests")]
os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")


def requests_from(data_dir: Path, n: int) -> list[dict]:
    from qgen.data.squad import read_squad

    path = data_dir / "jglue/jsquad-v1.3/valid-v1.3.json"
    if not path.is_file():
        path = REPO / "tests/fixtures/jglue/jsquad-v1.3/valid-v1.3.json"
    questions, _ = read_squad(path)
    seen, out = set(), []
    for q in questions:
        if q.context in seen or len(q.context) > 1500:
            continue
        seen.add(q.context)
        out.append({"context": q.context, "answer": q.answer, "answer_start": q.answer_start})
        if len(out) == n:
            break
    return out


def run_phase(port: int, bodies: list[dict], clients: int, duration: float, max_requests: int) -> dict:
    """`clients` threads, each with one keep-alive connection, sending until `duration` s or `max_requests`."""
    lat: list[float] = []
    errors: list[str] = []
    count = [0]
    lock = threading.Lock()
    stop_at = time.monotonic() + duration

    def client(k: int):
        conn = http.client.HTTPConnection("127.0.0.1", port, timeout=300)
        i = k
        while time.monotonic() < stop_at:
            with lock:
                if count[0] >= max_requests:
                    return
                count[0] += 1
            body = json.dumps(bodies[i % len(bodies)]).encode()
            i += clients
            t = time.perf_counter()
            try:
                conn.request("POST", "/v1/questions", body=body, headers={"Content-Type": "application/json"})
                resp = conn.getresponse()
                data = resp.read()
                ok = resp.status == 200
            except OSError as e:
                ok, data = False, str(e).encode()
                conn = http.client.HTTPConnection("127.0.0.1", port, timeout=300)
            took = time.perf_counter() - t
            with lock:
                if ok:
                    lat.append(took)
                else:
                    errors.append(data[:200].decode("utf-8", "replace"))

    start = time.monotonic()
    threads = [threading.Thread(target=client, args=(k,)) for k in range(clients)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    wall = time.monotonic() - start
    lat.sort()
    pick = (lambda q: lat[min(len(lat) - 1, int(q * len(lat)))] * 1000) if lat else (lambda q: float("nan"))
    return {"clients": clients, "seconds": round(wall, 1), "requests": len(lat) + len(errors), "errors": len(errors),
            "error_examples": errors[:3], "requests_per_s": round(len(lat) / wall, 2),
            "p50_ms": round(statistics.median(lat) * 1000, 1) if lat else None, "p99_ms": round(pick(0.99), 1)}


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--model", default="qgen-small-ja")
    ap.add_argument("--clients", type=int, default=16)
    ap.add_argument("--duration", type=float, default=60.0, help="seconds of the loaded phase")
    ap.add_argument("--baseline-duration", type=float, default=30.0, help="seconds of each baseline phase")
    ap.add_argument("--max-requests", type=int, default=20_000, help="most requests of one phase")
    ap.add_argument("--num-questions", type=int, default=1, help="questions per request")
    ap.add_argument("--num-beams", type=int, default=4)
    ap.add_argument("--max-new-tokens", type=int, default=32)
    ap.add_argument("--no-roundtrip", action="store_true", help="requests without the round-trip check")
    ap.add_argument("--data-dir", type=Path, default=Path(os.environ.get("QGEN_DATA_DIR", REPO.parent / "shared/data")))
    ap.add_argument("--output", type=Path, default=None, help="also write the figures as JSON here")
    args = ap.parse_args()
    if args.clients < 1 or args.duration <= 0 or args.baseline_duration <= 0 or args.max_requests < 1:
        ap.error("--clients, --duration, --baseline-duration and --max-requests must be positive")

    from helpers.serve_server import Server

    bodies = [{**b, "model": args.model, "num_questions": args.num_questions, "num_beams": args.num_beams,
               "max_new_tokens": args.max_new_tokens, "roundtrip": not args.no_roundtrip}
              for b in requests_from(args.data_dir, 200)]
    log_dir = REPO / "runs" / "bench-serve"
    log_dir.mkdir(parents=True, exist_ok=True)
    result = {"cpus": os.cpu_count(), "load_avg_before": [round(x, 2) for x in os.getloadavg()],
              "model": args.model, "request": {k: bodies[0][k] for k in ("num_questions", "num_beams", "max_new_tokens", "roundtrip")},
              "paragraphs": len(bodies)}
    phases = (("sequential", [], 1, args.baseline_duration), ("loaded", [], args.clients, args.duration),
              ("loaded_no_batching", ["--max-batch", "1"], args.clients, args.baseline_duration))
    servers: dict[tuple, Server] = {}
    try:
        for name, extra, clients, duration in phases:
            key = tuple(extra)
            if key not in servers:
                for s in servers.values():
                    s.stop()
                servers = {key: Server(["--model", args.model, *extra], log_dir / f"serve{'-'.join(extra)}.log")}
                run_phase(servers[key].port, bodies[:4], 4, 5, 8)  # warm-up: first-call costs out of the figures
            print(f"{name}: {clients} client(s) for {duration:g} s …", file=sys.stderr, flush=True)
            result[name] = run_phase(servers[key].port, bodies, clients, duration, args.max_requests)
            result[name]["server_batching"] = servers[key].call("GET", "/healthz")[1]["batching"]
            print(json.dumps({k: v for k, v in result[name].items() if k != "server_batching"}), file=sys.stderr)
    finally:
        for s in servers.values():
            s.stop()
    loaded = result["loaded"]["requests_per_s"]
    result["gain_over_sequential"] = round(loaded / max(1e-9, result["sequential"]["requests_per_s"]), 2)
    result["gain_over_no_batching"] = round(loaded / max(1e-9, result["loaded_no_batching"]["requests_per_s"]), 2)
    result["load_avg_after"] = [round(x, 2) for x in os.getloadavg()]
    text = json.dumps(result, indent=2, ensure_ascii=False)
    print(text)
    if args.output:
        args.output.write_text(text + "\n", encoding="utf-8")
    errors = sum(result[name]["errors"] for name, *_ in phases)
    return 1 if errors else 0


if __name__ == "__main__":
    sys.exit(main())
