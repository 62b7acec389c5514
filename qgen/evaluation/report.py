"""Evaluation reports: a metrics table and per-example rows (hallucinated words highlighted), as HTML or Markdown.

Rows are shown in the order given (`qgen.evaluation.records.worst_first` puts the worst first). Every text is escaped, and
sits in a width-limited block that breaks anywhere (`overflow-wrap: anywhere`): a long unbroken prediction such as
`「「「…` (no line-break opportunity between those characters) wraps instead of widening the table off the page. The HTML
report embeds a PNG of the per-example score distributions (a matplotlib Figure rendered by Agg, pyplot untouched). Highlighting marks every
occurrence of a hallucinated word in the prediction, so a word that also appears inside a longer word is marked there too.
"""

from __future__ import annotations

import base64
import html
import io
import re
from collections.abc import Iterable
from pathlib import Path
from typing import Any

from qgen.core.errors import PathArg
from qgen.core.files import write_text
from qgen.evaluation.metrics import SCALES

_STYLE = """
body { font-family: sans-serif; margin: 2em; }
table { border-collapse: collapse; margin-bottom: 1.5em; }
td, th { border: 1px solid #ccc; padding: 4px 8px; vertical-align: top; text-align: left; }
th { background: #f3f3f3; }
td.num { text-align: right; font-variant-numeric: tabular-nums; }
mark { background: #ffb3b3; }
.txt { max-width: 28em; overflow-wrap: anywhere; }
.src { color: #555; font-size: 90%; max-width: 40em; overflow-wrap: anywhere; }
code { font-size: 85%; }
"""
_SCORES = ("f1", "rougeL")


def _fmt(key: str, value: object) -> str:
    if isinstance(value, float):
        return f"{value:.2f}" if key == "bleu" else f"{value:.4f}"
    return str(value)


def _scale(key: str) -> str:
    """BLEU is 0-100, the other scores 0-1: said beside every value so the two are never compared."""
    return SCALES.get(key, "")


def _targets(target: str | Iterable[str]) -> list[str]:
    return [target] if isinstance(target, str) else list(target)


def _spans(text: str, words: Iterable[str]) -> list[tuple[str, bool]]:
    """Split `text` into (segment, is_hallucinated) runs; adjacent marked words form one run."""
    words = sorted({w for w in words if w}, key=len, reverse=True)
    if not words:
        return [(text, False)] if text else []
    out: list[tuple[str, bool]] = []
    pos = 0
    for m in re.finditer("|".join(map(re.escape, words)), text):
        if m.start() > pos:
            out.append((text[pos : m.start()], False))
        if out and out[-1][1] and m.start() == pos:
            out[-1] = (out[-1][0] + m.group(), True)
        else:
            out.append((m.group(), True))
        pos = m.end()
    if pos < len(text):
        out.append((text[pos:], False))
    return out


def highlight_html(text: str, words: Iterable[str]) -> str:
    """`text` escaped, with each occurrence of `words` wrapped in <mark>."""
    return "".join(f"<mark>{html.escape(t)}</mark>" if marked else html.escape(t) for t, marked in _spans(text, words))


def _md_escape(text: str) -> str:
    return text.replace("\\", "\\\\").replace("|", "\\|").replace("*", "\\*").replace("\n", " ")


def highlight_markdown(text: str, words: Iterable[str]) -> str:
    """`text` escaped for a Markdown table cell, with each occurrence of `words` in bold."""
    return "".join(f"**{_md_escape(t)}**" if marked else _md_escape(t) for t, marked in _spans(text, words))


def plot_distributions(examples: list[dict]) -> Any:
    """A matplotlib Figure: histograms of per-example char F1 and ROUGE-L, and of hallucinated words per example."""
    from matplotlib.figure import Figure  # heavy: on first plot; no pyplot: no backend switch, no global figure state
    from matplotlib.ticker import MaxNLocator

    has_h = any("hallucinated" in e for e in examples)
    fig = Figure(figsize=(4 * (3 if has_h else 2), 3), layout="constrained")
    axes = fig.subplots(1, 3 if has_h else 2)
    for ax, key, label in zip(axes, _SCORES, ("character F1", "ROUGE-L F")):
        ax.hist([e[key] for e in examples], bins=20, range=(0, 1), color="#4477aa")
        ax.set(xlabel=label, ylabel="examples")
    if has_h:
        counts = [len(e.get("hallucinated", ())) for e in examples]
        axes[2].hist(counts, bins=range(0, max(counts) + 2), color="#cc6677", align="left", rwidth=0.9)
        axes[2].set(xlabel="hallucinated words", ylabel="examples")
        axes[2].xaxis.set_major_locator(MaxNLocator(integer=True, min_n_ticks=1))  # word counts: 0, 1, 2 …, never 0.5
    for ax in axes:
        ax.yaxis.set_major_locator(MaxNLocator(integer=True, min_n_ticks=1))  # numbers of examples
    return fig


def _png_base64(fig: Any) -> str:
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=90)
    return base64.b64encode(buf.getvalue()).decode("ascii")


def _columns(metrics: dict, compare: dict | None, label: str) -> dict[str, dict]:
    """{column heading: metrics}: the runs compared with (e.g. "before fine-tuning") first, then this one."""
    return {**(compare or {}), label: metrics}


def render_html(metrics: dict, examples: list[dict], title: str = "qgen evaluation", max_rows: int = 500,
                compare: dict | None = None, label: str = "value") -> str:
    """A self-contained HTML page: metrics table, distribution plot, first `max_rows` examples (0 = all).
    `compare`: {heading: metrics} of other runs shown beside these (headed `label`); an example's `before` (the
    other run's prediction for it) gets its own column."""
    shown = examples if max_rows <= 0 else examples[:max_rows]
    has_h = any("hallucinated" in e for e in examples)
    has_before = any("before" in e for e in examples)
    columns = _columns(metrics, compare, label)
    heads = "".join(f"<th>{html.escape(c)}</th>" for c in columns)
    parts = [
        f"<!DOCTYPE html><html lang='ja'><head><meta charset='utf-8'><title>{html.escape(title)}</title>",
        f"<style>{_STYLE}</style></head><body><h1>{html.escape(title)}</h1>",
        f"<h2>Metrics</h2><table><tr><th>metric</th>{heads}<th>scale</th></tr>",
    ]
    for k in metrics:
        cells = ""
        for m in columns.values():
            v = m.get(k, "")
            cell = f"<code>{html.escape(str(v))}</code>" if k == "bleu_signature" else html.escape(_fmt(k, v))
            cells += f"<td class='num'>{cell}</td>"
        parts.append(f"<tr><td>{html.escape(k)}</td>{cells}<td>{_scale(k)}</td></tr>")
    parts.append("</table>")
    if examples:
        parts.append(
            f"<img alt='score distributions' src='data:image/png;base64,{_png_base64(plot_distributions(examples))}'>"
        )
    parts.append(f"<h2>Examples ({len(shown)} of {len(examples)}, worst first)</h2><table><tr><th>id</th>")
    parts.append(("<th>before</th>" if has_before else "") + "<th>prediction</th><th>target</th><th>EM</th>"
                 "<th>F1</th><th>ROUGE-L</th>")
    parts.append(("<th>hallucinated</th>" if has_h else "") + "<th>source</th></tr>")
    for e in shown:
        words = e.get("hallucinated", ())
        targets = "<br>".join(html.escape(t) for t in _targets(e["target"]))
        before = f"<td><div class='txt'>{html.escape(e.get('before', ''))}</div></td>" if has_before else ""
        row = [
            f"<td>{html.escape(str(e['id']))}</td>{before}"
            f"<td><div class='txt'>{highlight_html(e['prediction'], words)}</div></td>"
            f"<td><div class='txt'>{targets}</div></td>",
            f"<td class='num'>{e['em']:.0f}</td><td class='num'>{e['f1']:.3f}</td><td class='num'>{e['rougeL']:.3f}</td>",
        ]
        if has_h:
            row.append(f"<td><div class='txt'>{html.escape('、'.join(words))}</div></td>")
        row.append(f"<td><div class='src'>{html.escape(e.get('source', ''))}</div></td>")
        parts.append("<tr>" + "".join(row) + "</tr>")
    parts.append("</table></body></html>\n")
    return "\n".join(parts)


def render_markdown(metrics: dict, examples: list[dict], title: str = "qgen evaluation", max_rows: int = 500,
                    compare: dict | None = None, label: str = "value") -> str:
    """The same report as Markdown tables (hallucinated words in bold; no plot)."""
    shown = examples if max_rows <= 0 else examples[:max_rows]
    has_h = any("hallucinated" in e for e in examples)
    has_before = any("before" in e for e in examples)
    columns = _columns(metrics, compare, label)
    lines = [f"# {title}", "", f"| metric | {' | '.join(_md_escape(c) for c in columns)} | scale |",
             "|" + " --- |" * (len(columns) + 2)]
    for k in metrics:
        values = [f"`{m.get(k, '')}`" if k == "bleu_signature" else _fmt(k, m.get(k, "")) for m in columns.values()]
        lines.append(f"| {k} | {' | '.join(values)} | {_scale(k)} |")
    lines += ["", f"## Examples ({len(shown)} of {len(examples)}, worst first)", ""]
    head = (["id"] + (["before"] if has_before else []) + ["prediction", "target", "EM", "F1", "ROUGE-L"]
            + (["hallucinated"] if has_h else []))
    lines += ["| " + " | ".join(head) + " |", "|" + " --- |" * len(head)]
    for e in shown:
        words = e.get("hallucinated", ())
        cells = [
            _md_escape(str(e["id"])),
            *([_md_escape(e.get("before", ""))] if has_before else []),
            highlight_markdown(e["prediction"], words),
            " / ".join(_md_escape(t) for t in _targets(e["target"])),
            f"{e['em']:.0f}",
            f"{e['f1']:.3f}",
            f"{e['rougeL']:.3f}",
        ] + (["、".join(_md_escape(w) for w in words)] if has_h else [])
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines) + "\n"


def write_report(
    path: PathArg, metrics: dict, examples: list[dict], title: str = "qgen evaluation", max_rows: int = 500,
    compare: dict | None = None, label: str = "value",
) -> Path:
    """Write the report atomically: Markdown when `path` ends in .md, HTML otherwise (`compare`, `label`: see
    render_html)."""
    path = Path(path)
    render = render_markdown if path.suffix.lower() in (".md", ".markdown") else render_html
    write_text(path, render(metrics, examples, title=title, max_rows=max_rows, compare=compare, label=label))
    return path
