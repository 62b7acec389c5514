"""qgen.evaluation.report: escaping, highlighting, row limits, format chosen by suffix, the plot."""

from qgen.evaluation.report import (
    highlight_html,
    highlight_markdown,
    plot_distributions,
    render_html,
    render_markdown,
    write_report,
)

METRICS = {"n": 2, "exact_match": 0.5, "bleu": 12.3456, "bleu_signature": "nrefs:1|tok:ja-mecab"}
EXAMPLES = [
    {
        "id": "b",
        "source": "context: <b>東京</b>",
        "prediction": "大阪タワーは<高い>",
        "target": ["東京タワー", "x|y"],
        "em": 0.0,
        "f1": 0.4,
        "rouge1": 0.3,
        "rouge2": 0.1,
        "rougeL": 0.3,
        "hallucinated": ["タワー", "大阪"],
    },
    {
        "id": "a",
        "source": "s",
        "prediction": "東京",
        "target": "東京",
        "em": 1.0,
        "f1": 1.0,
        "rouge1": 1.0,
        "rouge2": 1.0,
        "rougeL": 1.0,
        "hallucinated": [],
    },
]


def test_highlighting_merges_adjacent_words_and_escapes():
    assert highlight_html("大阪タワーは<高い>", ["大阪", "タワー"]) == "<mark>大阪タワー</mark>は&lt;高い&gt;"
    assert highlight_html("a<b", []) == "a&lt;b"
    # every occurrence is marked; the longest word wins where two overlap
    assert highlight_html("東京都と東京", ["東京", "東京都"]) == "<mark>東京都</mark>と<mark>東京</mark>"
    assert highlight_markdown("大阪|タワー*", ["大阪"]) == "**大阪**\\|タワー\\*"


def test_html_report():
    page = render_html(METRICS, EXAMPLES, title="t<1>")
    assert "<title>t&lt;1&gt;</title>" in page and "&lt;b&gt;東京&lt;/b&gt;" in page  # nothing unescaped
    assert "<td class='num'>12.35</td><td>0-100</td>" in page and "<code>nrefs:1|tok:ja-mecab</code>" in page
    assert "<td class='num'>0.5000</td><td>0-1</td>" in page  # the scale beside every score
    assert "<mark>大阪タワー</mark>" in page and "x|y" in page
    assert page.index("<td>b</td>") < page.index("<td>a</td>")  # rows keep the given (worst-first) order
    assert "Examples (1 of 2" in render_html(METRICS, EXAMPLES, max_rows=1)


def test_markdown_report(tmp_path):
    md = render_markdown(METRICS, EXAMPLES)
    assert "| exact_match | 0.5000 | 0-1 |" in md and "| bleu | 12.35 | 0-100 |" in md
    assert "| b | **大阪タワー**は<高い> | 東京タワー / x\\|y | 0 | 0.400 | 0.300 | タワー、大阪 |" in md
    assert write_report(tmp_path / "r.md", METRICS, EXAMPLES).read_text(encoding="utf-8") == md
    assert (
        write_report(tmp_path / "r.html", METRICS, EXAMPLES).read_text(encoding="utf-8").startswith("<!DOCTYPE html>")
    )


def test_plot_has_one_panel_per_distribution():
    assert len(plot_distributions(EXAMPLES).axes) == 3
    no_h = [{k: v for k, v in e.items() if k != "hallucinated"} for e in EXAMPLES]
    assert len(plot_distributions(no_h).axes) == 2
    assert "hallucinated" not in render_markdown(METRICS, no_h)


def test_long_texts_wrap_inside_their_cells():
    long = {**EXAMPLES[1], "id": "long", "prediction": "「" * 400, "target": "x" * 300, "source": "y" * 2000}
    page = render_html(METRICS, [long])
    # every text sits in a width-limited block that may break anywhere (「「「… has no line-break opportunity)
    assert "<td><div class='txt'>" + "「" * 400 + "</div></td>" in page
    assert "<td><div class='txt'>" + "x" * 300 + "</div></td>" in page and "<div class='src'>" + "y" * 2000 in page
    style = page[page.index("<style>"):page.index("</style>")]
    assert ".txt { max-width: 28em; overflow-wrap: anywhere; }" in style and "overflow-wrap: anywhere; }" in \
        style[style.index(".src"):]


def test_histogram_ticks_are_integers():
    many = [{**EXAMPLES[0], "hallucinated": ["w"] * k, "id": str(k)} for k in (0, 1, 1, 2, 3, 3, 3)]
    for examples in (EXAMPLES, many, [EXAMPLES[1]]):  # at most 2, at most 3, and all zero hallucinated words
        fig = plot_distributions(examples)
        fig.canvas.draw()  # Agg: ticks are placed as they will be saved
        for i, ax in enumerate(fig.axes):
            axes_ticks = [("y", ax.get_yticks(), ax.get_ylim())] + ([("x", ax.get_xticks(), ax.get_xlim())] if i == 2 else [])
            for name, ticks, (lo, hi) in axes_ticks:
                shown = [t for t in ticks if lo <= t <= hi]
                assert shown and all(float(t).is_integer() for t in shown), (i, name, list(ticks))


def test_a_report_compares_two_runs_side_by_side():
    """The demo's report.html showed only the model after fine-tuning (issue 29): with `compare` the metrics of both
    runs sit in one table, and each example shows the earlier run's prediction beside the new one."""
    before = {"n": 2, "exact_match": 0.0, "bleu": 7.5, "bleu_signature": "nrefs:1|tok:ja-mecab"}
    rows = [{**e, "before": f"前の{e['id']}"} for e in EXAMPLES]
    page = render_html(METRICS, rows, compare={"before fine-tuning": before}, label="after fine-tuning").replace("\n", "")
    assert "<th>metric</th><th>before fine-tuning</th><th>after fine-tuning</th><th>scale</th>" in page
    assert "<tr><td>bleu</td><td class='num'>7.50</td><td class='num'>12.35</td>" in page
    assert "<th>id</th><th>before</th><th>prediction</th>" in page and "<td><div class='txt'>前のb</div></td>" in page
    md = render_markdown(METRICS, rows, compare={"before fine-tuning": before}, label="after fine-tuning")
    assert "| metric | before fine-tuning | after fine-tuning | scale |" in md and "| bleu | 7.50 | 12.35 | 0-100 |" in md
    assert "| b | 前のb | " in md
    assert "<th>metric</th><th>value</th><th>scale</th>" in render_html(METRICS, EXAMPLES)  # one run: as before
