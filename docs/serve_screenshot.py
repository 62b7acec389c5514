"""The README's screenshot of `qgen serve` (docs/serve_playground.png): the shipped qgen-small-ja on a JSQuAD v1.3 validation paragraph,
taken with Debian's headless Chromium through Playwright.

    .venv/bin/python docs/serve_screenshot.py            # needs `apt-get install chromium fonts-noto-cjk`

Starts its own server on a free loopback port, selects the answer in the paragraph, asks for suggestions and three
questions, and saves the page.
"""

from __future__ import annotations

import sys
import tempfile
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(REPO), str(REPO / "tests")]
CONTEXT = ("梅雨 [SEP] 同じごろ、太平洋中部の洋上でも高気圧が勢力を増し、範囲を西に広げてくる。この高気圧は北太平洋を帯状に"
           "覆う太平洋高気圧の西端で小笠原高気圧ともいい、この母体となる暖かく湿った気団を小笠原気団という。")  # JSQuAD v1.3 valid a10336p16
ANSWER = "小笠原高気圧"


def main() -> int:
    from helpers.serve_server import CHROMIUM_FLAGS, Server
    from playwright.sync_api import sync_playwright

    out = REPO / "docs" / "serve_playground.png"
    server = Server(["--model", "qgen-small-ja"], Path(tempfile.mkdtemp()) / "serve.log")
    try:
        with sync_playwright() as p:
            ctx = p.chromium.launch_persistent_context(tempfile.mkdtemp(), executable_path="/usr/bin/chromium",
                                                       headless=True, args=CHROMIUM_FLAGS, viewport={"width": 1180, "height": 900})
            page = ctx.new_page()
            page.goto(server.url + "/")
            page.wait_for_selector("#model option", state="attached")
            page.fill("#context", CONTEXT)
            page.click("#suggest")
            page.wait_for_selector("#suggestions .chip")
            start = CONTEXT.index(ANSWER)
            page.eval_on_selector("#context", """(box, [a, b]) => { box.focus(); box.setSelectionRange(a, b);
                box.dispatchEvent(new MouseEvent('mouseup', {bubbles: true})); }""", [start, start + len(ANSWER)])
            page.fill("#num_questions", "3")
            page.click("#generate")
            page.wait_for_selector("#results tbody tr.result", timeout=120_000)
            page.screenshot(path=str(out), full_page=True)
            ctx.close()
    finally:
        server.stop()
    print(out)
    return 0


if __name__ == "__main__":
    sys.exit(main())
