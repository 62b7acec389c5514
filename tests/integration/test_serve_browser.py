"""The playground page in a real browser: Debian's Chromium, headless, driven by Playwright (no browser download).

A person's path through the page: paste a paragraph, select the answer with the mouse, generate, see the words the
paragraph lacks highlighted, download the accepted questions (JSONL and quiz records), and score a quiz question.
What the page shows is compared with the API's answer to the same request (beam search is deterministic).
Under CI=true a missing browser or Playwright fails these tests (CI installs both: .ci/run, setup.cfg [dev]).
"""

import json
import os
import shutil
import tempfile

import pytest
from helpers import serve_models
from helpers.serve_server import ANSWER, CHROMIUM_FLAGS, CONTEXT, Server

CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"


def _missing(what: str):
    if os.environ.get("CI", "").lower() == "true":
        pytest.fail(f"{what} is missing: CI must install it (.ci/run installs chromium; setup.cfg [dev] playwright)")
    pytest.skip(f"{what} is missing (apt-get install chromium; pip install playwright)")


@pytest.fixture(scope="module")
def browser():
    try:
        from playwright.sync_api import sync_playwright
    except ImportError:
        _missing("playwright")
    if not os.path.isfile(CHROMIUM):
        _missing(f"Chromium ({CHROMIUM})")
    profile = tempfile.mkdtemp(prefix="qgen-chromium-")
    with sync_playwright() as p:
        context = p.chromium.launch_persistent_context(profile, executable_path=CHROMIUM, headless=True, args=CHROMIUM_FLAGS,
                                                       accept_downloads=True)
        yield context
        context.close()
    shutil.rmtree(profile, ignore_errors=True)


@pytest.fixture(scope="module")
def server(serve_models_dir, tmp_path_factory):
    s = Server(["--model", serve_models.QG_MODEL, "--models", str(serve_models_dir), "--max-new-tokens", "24"],
               tmp_path_factory.mktemp("serve_log") / "serve.log")
    yield s
    assert s.stop() == 0


@pytest.fixture
def page(browser, server):
    pg = browser.new_page()
    pg.goto(server.url + "/")
    pg.wait_for_selector("#model option", state="attached")
    yield pg
    pg.close()


def _select(page, text: str):
    """Select `text` in the paragraph box as a mouse selection does (the page reads the selection on mouseup)."""
    start = CONTEXT.index(text)
    page.eval_on_selector("#context", """(box, [a, b]) => { box.focus(); box.setSelectionRange(a, b);
        box.dispatchEvent(new MouseEvent('mouseup', {bubbles: true})); }""", [start, start + len(text)])


def test_select_generate_highlight_download(page, server, tmp_path):
    page.fill("#context", CONTEXT)
    _select(page, ANSWER)
    assert page.inner_text("#answer") == ANSWER
    page.fill("#num_questions", "3")
    page.fill("#max_new_tokens", "24")
    page.click("#generate")
    page.wait_for_selector("#results tbody tr.result")
    page.select_option("#sort", "order")  # as generated, to compare with the API row by row
    status, api = server.call("POST", "/v1/questions", {"context": CONTEXT, "answer": ANSWER, "answer_start":
                                                        CONTEXT.index(ANSWER), "num_questions": 3, "num_beams": 4,
                                                        "max_new_tokens": 24, "mode": "beam", "window": "sentence",
                                                        "model": serve_models.QG_MODEL})
    assert status == 200
    rows = page.query_selector_all("#results tbody tr.result")
    assert len(rows) == len(api["questions"])
    for row, q in zip(rows, api["questions"]):
        assert row.query_selector("td.q").inner_text() == q["question"]
        marks = [m.inner_text() for m in row.query_selector_all("mark.halluc")]
        assert sorted(set(marks)) == q["hallucinated"]  # every hallucinated word is highlighted, nothing else
        assert ("rt-bad" in row.query_selector("td.rt").get_attribute("class")) == (not q["consistent"])
    assert page.query_selector_all("mark.halluc")  # the tiny model's questions use words the paragraph lacks
    # sorting by score puts the best first
    page.select_option("#sort", "score")
    shown = [float(r.inner_text()) for r in page.query_selector_all("#results td.score")]
    assert shown == sorted(shown, reverse=True)

    for box in page.query_selector_all("input.accept"):  # accept every question
        if not box.is_checked():
            box.check()
    with page.expect_download() as dl:
        page.click("#download-jsonl")
    path = tmp_path / "q.jsonl"
    dl.value.save_as(path)
    lines = [json.loads(x) for x in path.read_text(encoding="utf-8").splitlines()]
    assert sorted(x["question"] for x in lines) == sorted(q["question"] for q in api["questions"])
    assert all(x["answer"] == ANSWER and x["context"] == CONTEXT for x in lines)

    with page.expect_download() as dl:
        page.click("#download-quiz")
    path = tmp_path / "quiz.json"
    dl.value.save_as(path)
    records = json.loads(path.read_text(encoding="utf-8"))
    assert len(records) == len(lines) and all(r["output"].endswith(ANSWER) for r in records)


def test_suggest_answers_then_generate(page):
    page.fill("#context", CONTEXT)
    page.click("#suggest")
    page.wait_for_selector("#suggestions .chip")
    chip = page.query_selector("#suggestions .chip")
    text = chip.evaluate("c => c.firstChild.textContent")
    chip.click()
    assert page.inner_text("#answer") == text
    selected = page.eval_on_selector("#context", "b => b.value.slice(b.selectionStart, b.selectionEnd)")
    assert selected == text  # the suggestion is marked in the paragraph
    page.fill("#num_questions", "1")
    page.click("#generate")
    page.wait_for_selector("#results tbody tr.result")
    assert page.query_selector("#results tbody tr.result td:nth-child(3)").inner_text() == text


def test_bad_input_is_shown(page):
    page.fill("#context", CONTEXT)
    page.fill("#num_questions", "9")
    page.click("#generate")
    page.wait_for_selector("#error:not([hidden])")
    assert page.inner_text("#error").startswith("num_questions:")


def test_quiz_tab_bars(page, server):
    page.click("#tab-quiz")
    page.select_option("#quiz-model", serve_models.QUIZ_MODEL)
    choices = ["北海道", "沖縄", "台湾"]
    page.fill("#quiz-question", "梅雨がないのはどこ?")
    page.fill("#quiz-choices", "\n".join(choices))
    page.fill("#gate_top1", "1")
    page.click("#quiz-score")
    page.wait_for_selector("#quiz-result:not([hidden])")
    _, api = server.call("POST", "/v1/quiz", {"question": "梅雨がないのはどこ?", "choices": choices, "gate_top1": 1.0,
                                              "model": serve_models.QUIZ_MODEL})
    widths = page.eval_on_selector_all("#bars .bar", "bars => bars.map(b => parseFloat(b.style.width))")
    assert widths == pytest.approx([100 * p for p in api["probabilities"]], abs=0.051)  # the page rounds to 0.1 %
    assert page.inner_text("#quiz-confidence") == f"{api['confidence']:.3f}"
    assert page.inner_text("#quiz-gate") == ("would fire (retrieve passages)" if api["gate"]["fires"]
                                             else "would not fire")


def test_api_docs_render_offline(browser, server):
    """/docs draws the operations with the Swagger UI files the server ships (the browser has no network but
    loopback: a CDN script would leave the page empty)."""
    pg = browser.new_page()
    requested = []
    pg.on("request", lambda r: requested.append(r.url))
    try:
        pg.goto(server.url + "/docs")
        pg.wait_for_selector(".swagger-ui .opblock", timeout=60_000)
        text = pg.inner_text(".swagger-ui")
        assert "/v1/questions" in text and "/v1/quiz" in text
    finally:
        pg.close()
    assert requested and all(u.startswith(server.url) for u in requested)
