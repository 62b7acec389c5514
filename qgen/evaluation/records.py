"""Scoring prediction records (`{"id", "source", "prediction", "target"}`): reading and checking a predictions JSONL,
the metrics of `qgen eval` over the records, worst-first ordering and the terminal format of the figures.

The command (`qgen eval`, qgen/cli/eval.py) and the Python users (predict.py --eval, the demo, notebooks) share these,
so a figure means the same wherever it was computed. Hallucination uses the *reference text*: the source without a
leading `… context:` part and without `<hl>` marks (`reference_from_source`).
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable, Sequence
from pathlib import Path

from qgen.core.errors import PathArg, QgenInputError
from qgen.data.jsonfile import read_text, require_file, too_deep
from qgen.evaluation import hallucination as H
from qgen.evaluation import lmqg_protocol as LMQG
from qgen.evaluation import metrics as M
from qgen.evaluation import qa_metrics as QA
from qgen.evaluation.metrics import SCALES

_CONTEXT_MARK = re.compile(r"\bcontext\s*[:：]\s*", re.IGNORECASE)
_HL = re.compile(r"\s*<hl>\s*", re.IGNORECASE)
SORT_KEYS = ("hallucination", "f1", "rougeL")
PROTOCOLS = ("qgen", "lmqg")


def reference_from_source(source: str) -> str:
    """The source without a leading `… context:` part (case-insensitive) and without `<hl>` answer markers."""
    m = _CONTEXT_MARK.search(source)
    text = source[m.end() :] if m else source
    return _HL.sub(_unmark, text).strip() if "<" in text else text


def _unmark(m: re.Match) -> str:
    """A removed `<hl>` leaves a space only between two ASCII letters/digits (Japanese text has none there)."""
    left, right = m.string[m.start() - 1 : m.start()], m.string[m.end() : m.end() + 1]
    return " " if (left + right).isascii() and left.isalnum() and right.isalnum() else ""


def _check_record(obj: object, where: dict, path: PathArg | None, need_source: str | None) -> dict:
    if not isinstance(obj, dict):
        raise QgenInputError(f"expected a JSON object, got {type(obj).__name__}", path=path, **where)
    for field in ("prediction",) + ((need_source,) if need_source else ()):
        if field not in obj:
            raise QgenInputError("missing field", path=path, field=field, **where)
        if not isinstance(obj[field], str):
            raise QgenInputError(f"expected a string, got {type(obj[field]).__name__}", path=path, field=field, **where)
    if "target" not in obj:
        raise QgenInputError("missing field", path=path, field="target", **where)
    target = obj["target"]
    if isinstance(target, list):
        if not target or not all(isinstance(t, str) for t in target):
            raise QgenInputError("expected a non-empty list of strings", path=path, field="target", **where)
    elif not isinstance(target, str):
        raise QgenInputError(
            f"expected a string or list of strings, got {type(target).__name__}", path=path, field="target", **where
        )
    return obj


def read_predictions(path: PathArg, source_field: str | None = "source") -> list[dict]:
    """Read and check a predictions JSONL; `source_field=None` does not require a source."""

    path = require_file(path)
    records = []
    for lineno, line in enumerate(read_text(path).split("\n"), 1):  # read_text: BOM, bad UTF-8 → a named error
        if not line.strip():
            continue
        try:
            obj = json.loads(line)
        except json.JSONDecodeError as e:
            raise QgenInputError(f"malformed JSON (column {e.colno}: {e.msg})", path=path, line=lineno) from None
        except RecursionError:
            raise too_deep(path, lineno) from None
        records.append(_check_record(obj, {"line": lineno}, path, source_field))
    if not records:
        raise QgenInputError("no prediction records", path=path)
    return records


def evaluate_records(
    records: Sequence[dict],
    *,
    source_field: str = "source",
    hallucination: bool = True,
    strip_source_prefix: bool = True,
    stop_words: Iterable[str] | None = None,
    tokenize: str = "ja-mecab",
    workers: int | None = None,
    protocol: str = "qgen",
    qa_metric: str = "jglue",
    group_field: str | None = None,
) -> dict:
    """Metrics for prediction records: {"metrics": {...}, "examples": [...]} (examples in input order).

    metrics: n, exact_match, char_f1 (JSQuAD, [0, 1]), bleu (0-100), bleu_signature, rouge1/rouge2/rougeL ([0, 1]),
    rouge_signature (`tokenize` segments words for both BLEU and ROUGE: ja-mecab, char, sudachi-A/B/C),
    and with `hallucination`: hallucination_rate (share of predictions with >= 1 hallucinated content word) and
    hallucinated_word_rate (hallucinated / distinct content words, summed over predictions) and on_topic_rate (share
    of predictions with >= 1 content word found in the reference text); always distinct_rate (distinct predictions /
    predictions: a model that ignores its input writes one output for all). Each example adds em,
    f1, rouge1/2/L and, with `hallucination`, hallucinated (sorted list) and content_words. `stop_words` defaults to
    `QUESTION_STOP_WORDS`. Bad records raise QgenInputError naming the record index and field.

    `qa_metric` picks the EM / F1 (jglue, harness, llm-jp-eval: `qgen.evaluation.qa_metrics`), named in `qa_metric`.
    `protocol="lmqg"` adds QG-Bench's figures as `lmqg_bleu1..4`, `lmqg_rougeL`, `lmqg_meteor` (0-100),
    `lmqg_groups` and `lmqg_signature`, records grouped by their `group_field` (e.g. "sentence") or else by the
    sentence of the source that holds the `<hl>` answer (`qgen.evaluation.lmqg_protocol`).
    """
    if protocol not in PROTOCOLS:
        raise ValueError(f"unknown protocol {protocol!r}; choose from {', '.join(PROTOCOLS)}")
    if not records:
        raise QgenInputError("no prediction records")
    records = [
        _check_record(r, {"record": i}, None, source_field if hallucination else None) for i, r in enumerate(records)
    ]
    preds = [r["prediction"] for r in records]
    metrics, examples = _overlap_scores(records, preds, source_field, tokenize, qa_metric)
    if protocol == "lmqg":
        metrics.update(_lmqg_scores(records, preds, source_field, group_field))
    if hallucination:
        stop = H.QUESTION_STOP_WORDS if stop_words is None else frozenset(stop_words)
        sources = [r[source_field] for r in records]
        references = [reference_from_source(s) for s in sources] if strip_source_prefix else sources
        metrics.update(_hallucination_scores(examples, preds, references, stop, workers))
    metrics["distinct_rate"] = len(set(preds)) / len(records)  # a model that ignores its input repeats one output
    return {"metrics": metrics, "examples": examples}


def _lmqg_scores(records: list[dict], preds: list[str], source_field: str, group_field: str | None) -> dict:
    """QG-Bench's figures (`lmqg_*`): the first target of each record is its gold question."""
    if group_field:
        missing = next((i for i, r in enumerate(records) if not isinstance(r.get(group_field), str)), None)
        if missing is not None:
            raise QgenInputError("missing or not a string (the lmqg protocol groups by it)", record=missing,
                                 field=group_field)
        sentences = [r[group_field] for r in records]
    else:
        sentences = [reference_from_source(LMQG.answer_sentence(r.get(source_field, ""))) for r in records]
    golds = [r["target"] if isinstance(r["target"], str) else r["target"][0] for r in records]
    return {f"lmqg_{k}": v for k, v in LMQG.lmqg_scores(preds, golds, sentences).items()}


def _overlap_scores(records: list[dict], preds: list[str], source_field: str, tokenize: str,
                    qa_metric: str = "jglue") -> tuple[dict, list]:
    """(metrics, examples) of the overlap scores: n, EM, char F1 (under `qa_metric`), BLEU and ROUGE with their
    signatures."""
    refs = [r["target"] for r in records]
    ems, f1s = QA.qa_scores(preds, refs, qa_metric)
    rouges = M.rouge_scores(preds, refs, tokenize)
    bleu, signature = M.bleu_with_signature(preds, refs, tokenize=tokenize)
    n = len(records)
    metrics = {
        "n": n,
        "exact_match": sum(ems) / n,
        "char_f1": sum(f1s) / n,
        "qa_metric": QA.SIGNATURES[qa_metric],  # which of the field's JSQuAD F1s these are
        "bleu": bleu,
        "bleu_signature": signature,
        **{k: sum(r[k] for r in rouges) / n for k in M.ROUGE_TYPES},
        "rouge_signature": M.rouge_signature(tokenize),  # the segmenter, beside the figures as BLEU's signature is
    }
    examples = [
        {
            "id": str(r.get("id", i)),
            "source": r.get(source_field, ""),
            "prediction": r["prediction"],
            "target": r["target"],
            "em": em,
            "f1": f1,
            **rg,
        }
        for i, (r, em, f1, rg) in enumerate(zip(records, ems, f1s, rouges))
    ]
    return metrics, examples


def _hallucination_scores(examples: list[dict], preds: list[str], references: list[str], stop: frozenset[str],
                          workers: int | None) -> dict:
    """Adds hallucinated / content_words to each example; returns the three hallucination rates."""
    details = H.hallucination_details(preds, references, stop, workers)
    for ex, (words, n_content) in zip(examples, details):
        ex["hallucinated"], ex["content_words"] = sorted(words), n_content
    n, n_words = len(preds), sum(n_content for _, n_content in details)
    return {
        "hallucination_rate": sum(1 for words, _ in details if words) / n,
        "hallucinated_word_rate": sum(len(w) for w, _ in details) / n_words if n_words else 0.0,
        # on topic: at least one content word (not a stop word) that the reference text has, i.e. about its input
        "on_topic_rate": sum(1 for words, n_content in details if n_content > len(words)) / n,
    }


def worst_first(examples: list[dict], sort: str = "hallucination") -> list[dict]:
    """Examples ordered worst first: most hallucinated words (then lowest ROUGE-L), or lowest F1 / ROUGE-L."""
    if sort == "hallucination":
        return sorted(examples, key=lambda e: (-len(e.get("hallucinated", ())), e["rougeL"], e["f1"]))
    if sort in ("f1", "rougeL"):
        return sorted(examples, key=lambda e: (e[sort], -len(e.get("hallucinated", ()))))
    raise ValueError(f"unknown sort {sort!r}; expected one of {SORT_KEYS}")


def scales(metrics: dict) -> dict:
    """{metric: "0-1" | "0-100"} for the metrics given, saved with them (BLEU is the only 0-100 one)."""
    return {k: SCALES[k] for k in metrics if k in SCALES}


QA_SHOWN = ("n", "exact_match", "char_f1")  # a short answer: BLEU / ROUGE on a few words say nothing
QG_HIDDEN = ("exact_match", "char_f1")  # a question matches its reference word for word by chance only


def records_task(records: Sequence[dict], source_field: str = "source") -> str:
    """"qa" when every source is a QA input (`question: … context: …`), else "qg": which figures to print."""
    ok = records and all(str(r.get(source_field, "")).lstrip().startswith("question:") for r in records)
    return "qa" if ok else "qg"


def format_metrics(metrics: dict, task: str | None = None) -> str:
    """The metrics as aligned `name  value  (scale)` lines for the terminal: BLEU is 0-100, the rest 0-1.

    `task` picks what is printed (the metrics file keeps them all): "qa" (short answers) EM and char F1; a question
    generation task (aqg, aqg_hl, "qg") BLEU, ROUGE and the hallucination rates; None everything."""
    if task == "qa":
        keys = [k for k in QA_SHOWN if k in metrics]
    elif task is None:
        keys = list(metrics)
    else:
        keys = [k for k in metrics if k not in QG_HIDDEN]
    lines = []
    for k in keys:
        v = metrics[k]
        if k in ("bleu_signature", "rouge_signature", "qa_metric", "lmqg_signature"):
            continue
        if v is None:  # e.g. lmqg_meteor without a Java runtime
            lines.append(f"{k:<24}{'n/a':>8}  (no Java runtime: METEOR 1.5 is a Java program)")
            continue
        value = f"{v:.2f}" if k == "bleu" or k.startswith("lmqg_") else f"{v:.4f}" if isinstance(v, float) else str(v)
        note = SCALES.get(k, "")
        if k == "bleu":
            note += f"; {metrics['bleu_signature']}"
        elif k.startswith("rouge") and "rouge_signature" in metrics:
            note += f"; {metrics['rouge_signature']}"
        elif k in ("exact_match", "char_f1") and "qa_metric" in metrics:
            note += f"; {metrics['qa_metric']}"
        elif k.startswith("lmqg_") and k != "lmqg_groups":
            note = "0-100; " + metrics["lmqg_signature"]
        lines.append(f"{k:<24}{value:>8}" + (f"  ({note})" if note else ""))
    if task == "qa":
        lines.append("(QA: exact match and character F1; BLEU / ROUGE of short answers are in the metrics file only)")
    elif task is not None and any(k in metrics for k in QG_HIDDEN):
        lines.append("(question generation: BLEU / ROUGE; exact match and char F1 are in the metrics file only)")
    return "\n".join(lines)


def metrics_path(predictions: PathArg, folder: PathArg | None = None) -> Path:
    """Where the metrics of a predictions file go by default, in predict.py --eval and `qgen eval` alike:
    `dev.jsonl` → `dev.metrics.json`, beside it or in `folder`."""
    predictions = Path(predictions)
    return (Path(folder) if folder is not None else predictions.parent) / f"{predictions.stem}.metrics.json"
