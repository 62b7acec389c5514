"""Quiz evaluation outputs: result.json, result.log, metrics.json and reliability diagrams (all written atomically).

Per file and overall: calibration.summary of the final answers; with retrieval also of the first pass (= accuracy
without retrieval), the retrieval rate (questions re-scored with passages; `gate_fired` also counts those for which
BM25 found nothing) and accuracy on retrieved vs non-retrieved questions.
"""

from __future__ import annotations

from pathlib import Path

from qgen.core.files import write_json, write_text
from qgen.evaluation import calibration


def _block(records: list[dict]) -> dict:
    gold = [r["gold"] for r in records]
    out = {"final": calibration.summary([r["probs"] for r in records], gold, [r["pred"] for r in records])}
    unparseable = [r["id"] for r in records if r.get("unparseable")]
    if records and all("acc" in r for r in records):  # loglik: lm-evaluation-harness's two accuracies
        out["lm_eval"] = {"acc": sum(r["acc"] for r in records) / len(records),
                          "acc_norm": sum(r["acc_norm"] for r in records) / len(records)}
    if any(r["scoring"] == "generate" for r in records):
        out["unparseable"] = {"count": len(unparseable), "ids": unparseable}
    if records and "first_pass" in records[0]:
        fp = [r["first_pass"] for r in records]
        out["first_pass"] = calibration.summary([f["probs"] for f in fp], gold, [f["pred"] for f in fp])
        used = [r for r in records if r["retrieval_used"]]
        rest = [r for r in records if not r["retrieval_used"]]

        def acc(rs: list[dict], key: str | None = None) -> float | None:
            if not rs:
                return None
            return sum((r["first_pass"] if key else r)["correct"] for r in rs) / len(rs)

        out["retrieval"] = {"rate": len(used) / len(records), "retrieved": len(used),
                            "gate_fired": sum(bool(r.get("gate_fired")) for r in records),
                            "accuracy_retrieved": acc(used), "accuracy_retrieved_before": acc(used, "first"),
                            "accuracy_not_retrieved": acc(rest)}
    return out


def _coverage_points(records: list[dict], points: int = 20) -> list[dict]:
    conf = [r["confidence"] for r in records]
    cov, acc = calibration.risk_coverage(conf, [r["correct"] for r in records])
    n = len(records)
    picks = sorted({max(0, round(n * (i + 1) / points) - 1) for i in range(points)})
    return [{"coverage": float(cov[i]), "accuracy": float(acc[i])} for i in picks]


def _fmt(x: float | None) -> str:
    return "-" if x is None else f"{x:.4f}"


def render_log(records: list[dict], metrics: dict) -> str:
    """The human-readable log: one block per question, then the metrics."""
    lines = []
    for r in records:
        mark = "OK " if r["correct"] else "NG "
        ret = " [参考]" if r["retrieval_used"] else ""
        pred = "?" if r["pred"] is None else f"{r['pred']}: {r['choices'][r['pred']]}"
        lines.append(f"{mark}{r['id']}{ret}\t{r['question']}")
        lines.append(f"    gold {r['gold']}: {r['choices'][r['gold']]}\tpred {pred}\tconf {r['confidence']:.3f}"
                     f"\tmargin {r['margin']:.3f}\tprobs {' '.join(f'{p:.3f}' for p in r['probs'])}")
        if r["raw"]:
            lines.append(f"    generated: {r['raw']!r}")
    lines.append("")
    for name, m in [*metrics["files"].items(), ("overall", metrics["overall"])]:
        f = m["final"]
        lines.append(f"== {name}: n={f['n']} accuracy={_fmt(f.get('accuracy'))} nll={_fmt(f.get('nll'))} "
                     f"brier={_fmt(f.get('brier'))} ece={_fmt(f.get('ece'))} aurc={_fmt(f.get('aurc'))}")
        if calibration.chance_note(f):
            lines.append(f"   note: {calibration.chance_note(f)}")
        if "lm_eval" in m:
            lines.append(f"   lm-evaluation-harness acc={_fmt(m['lm_eval']['acc'])} "
                         f"acc_norm={_fmt(m['lm_eval']['acc_norm'])}")
        if "retrieval" in m:
            rv = m["retrieval"]
            lines.append(f"   without retrieval accuracy={_fmt(m['first_pass'].get('accuracy'))} "
                         f"retrieval rate={rv['rate']:.3f} ({rv['retrieved']}, gate fired {rv['gate_fired']}) "
                         f"accuracy retrieved={_fmt(rv['accuracy_retrieved'])} (before {_fmt(rv['accuracy_retrieved_before'])}) "
                         f"not retrieved={_fmt(rv['accuracy_not_retrieved'])}")
        if m.get("unparseable", {}).get("count"):
            lines.append(f"   unparseable answers ({m['unparseable']['count']}): {', '.join(m['unparseable']['ids'])}")
    return "\n".join(lines) + "\n"


OUTPUT_NAMES = ("result.json", "metrics.json", "result.log", "reliability.png", "reliability_first_pass.png")


def write_outputs(out_dir: str | Path, records: list[dict], files: list[str], settings: dict,
                  timing: dict) -> tuple[dict, list[Path]]:
    """Write every output into `out_dir`; returns the metrics and the paths written (for the command to print)."""
    out_dir = Path(out_dir)
    n = max(1, len(records))
    metrics = {
        "files": {f: _block([r for r in records if r["file"] == f]) for f in files},
        "overall": _block(records),
        "coverage_curve": _coverage_points(records) if records else [],
        "timing": {**{k: round(v, 3) for k, v in timing.items()},
                   "seconds_per_question": round(sum(timing.values()) / n, 4)},
        "settings": settings,
    }
    written = [out_dir / name for name in OUTPUT_NAMES[:4]]
    write_json(written[0], records)
    write_json(written[1], metrics)
    write_text(written[2], render_log(records, metrics))
    conf = [r["confidence"] for r in records]
    calibration.plot_reliability(written[3], conf, [r["correct"] for r in records], "final")
    if records and "first_pass" in records[0]:
        fp = [r["first_pass"] for r in records]
        written.append(out_dir / OUTPUT_NAMES[4])
        calibration.plot_reliability(written[-1], [f["confidence"] for f in fp], [f["correct"] for f in fp],
                                     "first pass")
    return metrics, written
