"""`predict.py --task quiz` end to end on a tiny checkpoint and real data; the gate fires exactly by its rule; tune-gate."""

import json
import shutil

import numpy as np
import pytest

from qgen.cli.quiz import main
from qgen.cli.quiz_gate import main as tune_main
from qgen.core.files import write_json
from qgen.data.quiz import read_quizzes, render
from qgen.models.loading import resolve
from qgen.quiz.gate import evaluate_gate, tune
from qgen.quiz.retrieval import build_index
from qgen.training.config import TrainConfig, load_saved


@pytest.fixture(scope="module")
def setup(tmp_path_factory, jcqa_train, jcqa_valid, jsquad_valid):
    d = tmp_path_factory.mktemp("quizcli")
    train, _ = read_quizzes(jcqa_train, "jcommonsenseqa")
    texts = [render(q, "train")["instruction"] + render(q, "train")["output"] for q in train[:200]]
    ckpt = d / "best"
    shutil.copytree(resolve("tiny-gpt-neox", texts, d / "cache"), ckpt)
    cfg = TrainConfig()
    cfg.model.model, cfg.model.task, cfg.model.prompt_format, cfg.model.max_len = "tiny-gpt-neox", "quiz", "opencalm", 256
    cfg.save(ckpt)
    valid, _ = read_quizzes(jcqa_valid, "jcommonsenseqa")
    write_json(d / "dev1.json", [render(q, "eval") for q in valid[:12]])
    write_json(d / "dev2.json", [render(q, "eval") for q in valid[12:20]])
    build_index([jsquad_valid], d / "index")
    return d


def _run(setup, out, *extra):
    argv = ["--task", "quiz", "--model", str(setup / "best"), "--input", str(setup / "dev1.json"),
            str(setup / "dev2.json"), "--output-dir", str(setup / out), "--batch-size", "5", *extra]
    assert main(argv) == 0
    return json.loads((setup / out / "result.json").read_text(encoding="utf-8")), \
        json.loads((setup / out / "metrics.json").read_text(encoding="utf-8"))


def test_plain_run_outputs(setup, capsys):
    records, metrics = _run(setup, "plain")
    printed = capsys.readouterr().out
    assert "dev1.json\taccuracy" in printed and "dev2.json\taccuracy" in printed and "overall\taccuracy" in printed
    # the run ends by saying where its files went
    assert printed.splitlines()[-1] == f"wrote result.json, metrics.json, result.log, reliability.png to {setup / 'plain'}"
    assert len(records) == 20 and {r["file"].split("/")[-1] for r in records} == {"dev1.json", "dev2.json"}
    for r in records:
        assert set(r) >= {"id", "gold", "pred", "probs", "confidence", "margin", "retrieval_used", "raw"}
        assert r["correct"] == (r["pred"] == r["gold"]) and not r["retrieval_used"]
        assert r["confidence"] == pytest.approx(max(r["probs"]), abs=1e-5)
    acc = np.mean([r["correct"] for r in records])
    assert metrics["overall"]["final"]["accuracy"] == pytest.approx(acc)
    assert metrics["files"][str(setup / "dev1.json")]["final"]["n"] == 12
    assert metrics["settings"]["max_len_used"] == load_saved(setup / "best").model.max_len == 256
    assert (setup / "plain" / "reliability.png").read_bytes()[:4] == b"\x89PNG"
    log = (setup / "plain" / "result.log").read_text(encoding="utf-8")
    assert log.count("\n    gold ") == 20 and "== overall: n=20" in log


def test_gate_fires_exactly_by_the_rule(setup):
    plain, _ = _run(setup, "plain-g")
    conf = np.array([r["confidence"] for r in plain])
    margin = np.array([r["margin"] for r in plain])
    p, m = float(np.median(conf)), float(np.quantile(margin, 0.25))
    records, metrics = _run(setup, "gated", "--retrieval", str(setup / "index"), "--gate-top1", str(p),
                            "--gate-margin", str(m))
    expected = (conf < p) | (margin < m)
    assert 0 < expected.sum() < len(plain)  # the thresholds split the questions
    assert [r["gate_fired"] for r in records] == expected.tolist()
    # the JSQuAD index finds passages for every question here, so every fired gate re-scored with a [参考] block
    assert [r["retrieval_used"] for r in records] == expected.tolist()
    for r, q in zip(records, plain):
        assert r["first_pass"]["probs"] == q["probs"] and r["first_pass"]["pred"] == q["pred"]
        if r["retrieval_used"]:
            assert 1 <= len(r["passages"]) <= 5 and r["prompt_tokens"] > q["prompt_tokens"]
        else:
            assert r["probs"] == q["probs"] and r["passages"] == []
    rv = metrics["overall"]["retrieval"]
    assert rv["rate"] == pytest.approx(expected.mean()) and rv["retrieved"] == rv["gate_fired"] == int(expected.sum())
    assert metrics["overall"]["first_pass"]["accuracy"] == pytest.approx(np.mean([q["correct"] for q in plain]))
    assert (setup / "gated" / "reliability_first_pass.png").is_file()


def test_all_scorings_run(setup):
    for scoring in ("loglik", "loglik-norm", "generate"):
        records, metrics = _run(setup, f"s-{scoring}", "--scoring", scoring, "--max-new-tokens", "4", "--limit", "4")
        assert len(records) == 8 and all(abs(sum(r["probs"]) - 1) < 1e-4 for r in records)
    assert "unparseable" in metrics["overall"]  # generation lists the answers it could not parse


def test_tune_gate_on_real_runs(setup, capsys):
    _run(setup, "p2")
    _run(setup, "all", "--retrieval", str(setup / "index"), "--retrieve-all")
    out = setup / "gate.json"
    assert tune_main(["--without", str(setup / "p2" / "result.json"), "--with", str(setup / "all" / "result.json"),
                      "--tune-fraction", "0.5", "--output", str(out)]) == 0
    gate = json.loads(out.read_text(encoding="utf-8"))
    assert gate["tuned_on"]["n"] + gate["held_out"]["n"] == 20
    assert gate["tuned_on"]["accuracy"] >= max(gate["tuned_on"]["accuracy_without"], gate["tuned_on"]["accuracy_with_all"])
    printed = capsys.readouterr().out
    assert "--gate-top1" in printed and printed.splitlines()[-1] == f"wrote {out}"


def _records(path, top1, margin, correct):
    write_json(path, [{"id": str(i), "file": "dev.json", "confidence": t, "margin": m, "correct": c}
                      for i, (t, m, c) in enumerate(zip(top1, margin, correct))])


def test_tune_gate_by_hand(tmp_path):
    top1 = [0.9, 0.8, 0.6, 0.5, 0.4, 0.3]
    margin = [t / 2 for t in top1]  # same order as top1, so both thresholds cut the same nested sets
    _records(tmp_path / "a.json", top1, margin, [True, True, False, True, False, False])
    _records(tmp_path / "b.json", top1, margin, [False, True, True, True, True, False])
    from qgen.quiz.gate import paired

    d = paired(tmp_path / "a.json", tmp_path / "b.json")
    # best: retrieve for the four least confident (0.6, 0.5, 0.4, 0.3) -> T T T T T F = 5/6 at rate 4/6;
    # retrieving also for 0.8 changes nothing but costs more, for 0.9 loses one
    best = tune(d)
    assert best["tuned_on"]["accuracy"] == pytest.approx(5 / 6) and best["tuned_on"]["retrieval_rate"] == pytest.approx(4 / 6)
    assert best["tuned_on"]["accuracy_without"] == pytest.approx(3 / 6)
    assert best["tuned_on"]["accuracy_with_all"] == pytest.approx(4 / 6)
    # budget 2/6: only the two least confident (0.4, 0.3) may retrieve -> T T F T T F = 4/6
    capped = tune(d, budget=2 / 6)
    assert capped["tuned_on"]["accuracy"] == pytest.approx(4 / 6) and capped["tuned_on"]["retrieval_rate"] <= 2 / 6 + 1e-9
    assert evaluate_gate(d, 0.0, 0.0)["retrieval_rate"] == 0 and evaluate_gate(d, 1.01, 0.0)["retrieval_rate"] == 1


def test_bad_input_is_a_clean_error(setup, tmp_path, capsys):
    bad = tmp_path / "bad.json"
    write_json(bad, [{"instruction": "問題: ?\n", "input": "0: a\n1: b", "output": "7: z", "id": "x"}])
    assert main(["--model", str(setup / "best"), "--input", str(bad), "--output-dir", str(tmp_path / "o")]) == 2
    err = capsys.readouterr().err
    assert err.startswith("error: ") and "bad.json" in err and "output" in err
    assert not (tmp_path / "o").exists()
    assert main(["--model", str(tmp_path / "no-model"), "--input", str(setup / "dev1.json"),
                 "--output-dir", str(tmp_path / "o")]) == 2
    assert "model directory not found" in capsys.readouterr().err


def test_output_file_is_refused_not_made_a_directory(setup, tmp_path, capsys):
    """`--output res.json` once became a directory res.json/ (prefix of --output-dir); now it is a clean error."""
    from qgen.cli.predict import main as predict_main

    res = tmp_path / "res.json"
    with pytest.raises(SystemExit) as e:
        predict_main(["--task", "quiz", "--model", str(setup / "best"), "--input", str(setup / "dev1.json"),
                      "--output-dir", str(tmp_path / "d"), "--output", str(res)])
    err = capsys.readouterr().err
    assert e.value.code == 2 and "--output-dir" in err and "several files" in err
    assert not res.exists() and not (tmp_path / "d").exists()
    res.write_text("{}")  # an existing file as the output directory
    assert main(["--model", str(setup / "best"), "--input", str(setup / "dev1.json"), "--output-dir", str(res)]) == 2
    assert "not a directory" in capsys.readouterr().err and res.read_text() == "{}"
