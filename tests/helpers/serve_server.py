"""A real `qgen serve` process for the tests: a free port on 127.0.0.1, started as a user would start it, waited for
on /healthz, stopped with SIGTERM (the graceful shutdown) and its exit code kept."""

from __future__ import annotations

import http.client
import json
import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
# a real paragraph and answer (JSQuAD v1.3 valid a10336p0, in tests/fixtures) for the tests, the bench and the screenshot
CONTEXT = ("梅雨 [SEP] 梅雨（つゆ、ばいう）は、北海道と小笠原諸島を除く日本、朝鮮半島南部、中国の南部から長江流域にかけての"
           "沿海部、および台湾など、東アジアの広範囲においてみられる特有の気象現象で、5月から7月にかけて来る曇りや雨の多い"
           "期間のこと。雨季の一種である。")
ANSWER = "小笠原諸島"
# Debian's Chromium, headless, quiet: no network of its own, no first-run work (with a fresh user-data-dir)
CHROMIUM_FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                  "--disable-background-networking", "--disable-component-update", "--disable-sync"]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def call(port: int, method: str, path: str, body=None, raw: bytes | None = None, timeout: float = 120):
    """(status, parsed JSON or text) of one request; `raw` sends those bytes as the body as they are."""
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=timeout)
    data = raw if raw is not None else (None if body is None else json.dumps(body).encode())
    conn.request(method, path, body=data, headers={"Content-Type": "application/json"} if data is not None else {})
    resp = conn.getresponse()
    text = resp.read().decode("utf-8")
    conn.close()
    try:
        return resp.status, json.loads(text)
    except ValueError:
        return resp.status, text


class Server:
    def __init__(self, args: list[str], log: Path, wait_s: float = 240):
        self.port = free_port()
        self.log = Path(log)
        env = {**os.environ, "PYTHONPATH": str(REPO) + os.pathsep + os.environ.get("PYTHONPATH", ""),
               "OMP_NUM_THREADS": "1", "TOKENIZERS_PARALLELISM": "false", "HF_HUB_OFFLINE": "1"}
        self._out = open(self.log, "w", encoding="utf-8")  # noqa: SIM115 (closed in stop)
        self.proc = subprocess.Popen([sys.executable, "-m", "qgen.cli", "serve", "--port", str(self.port), *args],
                                     stdout=self._out, stderr=subprocess.STDOUT, env=env, cwd=REPO)
        self.url = f"http://127.0.0.1:{self.port}"
        deadline = time.monotonic() + wait_s
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"qgen serve exited {self.proc.returncode}:\n{self.output()[-3000:]}")
            try:
                if call(self.port, "GET", "/healthz", timeout=5)[0] == 200:
                    return
            except OSError:
                pass
            time.sleep(0.3)
        self.stop()
        raise RuntimeError(f"qgen serve did not answer in {wait_s} s:\n{self.output()[-3000:]}")

    def call(self, method: str, path: str, body=None, **kw):
        return call(self.port, method, path, body, **kw)

    def output(self) -> str:
        if not self._out.closed:
            self._out.flush()
        return self.log.read_text(encoding="utf-8", errors="replace")

    def stop(self, timeout: float = 60) -> int:
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self._out.close()
        return self.proc.returncode
