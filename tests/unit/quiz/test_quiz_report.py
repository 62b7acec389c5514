"""qgen.quiz.report on four hand-made records: the metrics blocks (per file and overall), the log, the files written.

Probabilities are sums of powers of two, so accuracies and rates are exact fractions; the calibration numbers
themselves are qgen.evaluation.calibration's (tests/unit/evaluation/test_calibration.py), compared here as its output.
"""

import json

import pytest

from qgen.evaluation import calibration
from qgen.quiz.report import render_log, write_outputs

CHOICES = ["甲", "乙", "丙"]


def _record(i, file, probs, gold, pred, *, scoring="loglik", first_pass=None, retrieved=False, gate=False, raw=""):
    rec = {"id": f"q{i}", "file": file, "question": f"問{i}", "choices": CHOICES, "probs": probs, "gold": gold,
           "pred": pred, "correct": pred == gold, "confidence": max(probs), "margin": 0.25, "scoring": scoring,
           "retrieval_used": retrieved, "gate_fired": gate, "raw": raw}
    if scoring == "loglik":
        rec["acc"], rec["acc_norm"] = float(pred == gold), float(gold == 0)
    if first_pass is not None:
        rec["first_pass"] = first_pass
    return rec


def _first(probs, gold):
    pred = max(range(len(probs)), key=probs.__getitem__)
    return {"probs": probs, "pred": pred, "correct": pred == gold, "confidence": max(probs)}


@pytest.fixture()
def records():
    """a.json: q0 right, q1 wrong; b.json: q2 right after retrieval (wrong before), q3 right without it."""
    return [
        _record(0, "a.json", [0.75, 0.125, 0.125], 0, 0, first_pass=_first([0.75, 0.125, 0.125], 0)),
        _record(1, "a.json", [0.5, 0.25, 0.25], 1, 0, first_pass=_first([0.5, 0.25, 0.25], 1), gate=True),
        _record(2, "b.json", [0.125, 0.625, 0.25], 1, 1, first_pass=_first([0.5, 0.25, 0.25], 1), retrieved=True,
                gate=True),
        _record(3, "b.json", [0.25, 0.25, 0.5], 2, 2, first_pass=_first([0.25, 0.25, 0.5], 2)),
    ]


def test_metrics_blocks(tmp_path, records):
    metrics, _ = write_outputs(tmp_path, records, ["a.json", "b.json"], {"k": 1}, {"score": 1.5, "load": 0.5})
    overall = metrics["overall"]
    assert overall["final"] == calibration.summary([r["probs"] for r in records], [r["gold"] for r in records],
                                                   [r["pred"] for r in records])
    assert (overall["final"]["n"], overall["final"]["accuracy"]) == (4, 0.75)
    assert overall["first_pass"]["accuracy"] == 0.5  # q2 was wrong before retrieval
    assert overall["retrieval"] == {"rate": 0.25, "retrieved": 1, "gate_fired": 2, "accuracy_retrieved": 1.0,
                                    "accuracy_retrieved_before": 0.0, "accuracy_not_retrieved": 2 / 3}
    assert overall["lm_eval"] == {"acc": 0.75, "acc_norm": 0.25}
    assert "unparseable" not in overall  # only generate scoring can fail to parse
    a, b = metrics["files"]["a.json"], metrics["files"]["b.json"]
    assert (a["final"]["accuracy"], b["final"]["accuracy"]) == (0.5, 1.0)
    assert a["retrieval"]["accuracy_retrieved"] is None and b["retrieval"]["rate"] == 0.5  # nobody retrieved in a
    assert metrics["timing"] == {"score": 1.5, "load": 0.5, "seconds_per_question": 0.5}
    assert metrics["settings"] == {"k": 1}
    # coverage: the most confident first: 0.75 right, 0.625 right, then the two 0.5s in file order (wrong, right)
    assert [p["coverage"] for p in metrics["coverage_curve"]] == [0.25, 0.5, 0.75, 1.0]
    assert [p["accuracy"] for p in metrics["coverage_curve"]] == [1.0, 1.0, 2 / 3, 0.75]


def test_files_written(tmp_path, records):
    metrics, written = write_outputs(tmp_path, records, ["a.json", "b.json"], {}, {"score": 1.0})
    assert [p.name for p in written] == ["result.json", "metrics.json", "result.log", "reliability.png",
                                         "reliability_first_pass.png"]
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted(p.name for p in written)
    assert json.loads((tmp_path / "result.json").read_text(encoding="utf-8")) == records
    assert json.loads((tmp_path / "metrics.json").read_text(encoding="utf-8")) == metrics
    assert (tmp_path / "result.log").read_text(encoding="utf-8") == render_log(records, metrics)
    assert (tmp_path / "reliability.png").read_bytes()[:4] == b"\x89PNG"


def test_without_retrieval_there_is_no_first_pass(tmp_path, records):
    for r in records:
        del r["first_pass"]
    metrics, written = write_outputs(tmp_path, records, ["a.json", "b.json"], {}, {})
    assert "first_pass" not in metrics["overall"] and "retrieval" not in metrics["overall"]
    assert [p.name for p in written][-1] == "reliability.png"
    assert not (tmp_path / "reliability_first_pass.png").exists()


def test_generate_scoring_counts_unparseable_answers(tmp_path):
    records = [_record(0, "a.json", [1.0, 0.0, 0.0], 0, 0, scoring="generate", raw="0"),
               _record(1, "a.json", [0.0, 0.0, 0.0], 2, None, scoring="generate", raw="わからない")]
    records[1]["unparseable"] = True
    metrics, _ = write_outputs(tmp_path, records, ["a.json"], {}, {})
    assert metrics["overall"]["unparseable"] == {"count": 1, "ids": ["q1"]}
    assert "lm_eval" not in metrics["overall"] and metrics["overall"]["final"]["accuracy"] == 0.5
    log = (tmp_path / "result.log").read_text(encoding="utf-8")
    assert "    generated: 'わからない'" in log and "pred ?" in log
    assert log.rstrip("\n").splitlines()[-1] == "   unparseable answers (1): q1"


def test_log_lines(records):
    metrics = {"files": {}, "overall": {"final": {"n": 4, "accuracy": 0.75}, "lm_eval": {"acc": 0.75, "acc_norm": 0.25}}}
    lines = render_log(records, metrics).splitlines()
    assert lines[0] == "OK q0\t問0"
    assert lines[1] == "    gold 0: 甲\tpred 0: 甲\tconf 0.750\tmargin 0.250\tprobs 0.750 0.125 0.125"
    assert lines[2] == "NG q1\t問1" and lines[4] == "OK q2 [参考]\t問2"
    assert "== overall: n=4 accuracy=0.7500 nll=- brier=- ece=- aurc=-" in lines
    assert lines[-1] == "   lm-evaluation-harness acc=0.7500 acc_norm=0.2500"


def test_the_log_says_when_the_answers_are_at_chance(tmp_path):
    """Issue 29: figures of a scorer that guesses (1/3 everywhere here) carry a note in result.log."""
    guess = [_record(i, "a.json", [0.34, 0.33, 0.33], i % 3, 0) for i in range(9)]
    metrics, _ = write_outputs(tmp_path, guess, ["a.json"], {}, {})
    assert metrics["overall"]["final"]["at_chance"]
    log = (tmp_path / "result.log").read_text(encoding="utf-8")
    assert log.count("note: at chance: accuracy 0.333 and mean confidence 0.340 against 0.333") == 2  # a.json, overall
