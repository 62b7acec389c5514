"""predict.py --eval and `qgen eval` agree (issue 29): the metrics file of `preds.jsonl` is `preds.metrics.json` for
both (predict wrote `preds.jsonl.metrics.json`), and the figures printed suit the task: EM / char F1 for short QA
answers (BLEU of a two-word answer means nothing), BLEU / ROUGE for generated questions."""

from __future__ import annotations

import json

import pytest

from qgen.cli.eval import output_paths
from qgen.cli.predict import main as predict_main
from qgen.evaluation.records import format_metrics, records_task

ROWS = {
    "aqg_hl": ["q1\t東京タワー [SEP] <hl> 1958年 <hl> に完成した。\t東京タワーが完成したのはいつ?",
               "q2\t富士山 [SEP] 富士山の高さは <hl> 3776m <hl> である。\t富士山の高さは?"],
    "qa": ["q1\tquestion: 東京タワーが完成したのはいつ? context: 東京タワー [SEP] 1958年に完成した。\t1958年",
           "q2\tquestion: 富士山の高さは? context: 富士山 [SEP] 富士山の高さは3776mである。\t3776m"],
}


@pytest.mark.parametrize("task", ["aqg_hl", "qa"])
def test_predict_eval_names_its_metrics_as_qgen_eval_and_prints_the_tasks_figures(task, tmp_path, capsys):
    tsv, out = tmp_path / "in.tsv", tmp_path / "preds.jsonl"
    tsv.write_text("\n".join(ROWS[task]) + "\n", encoding="utf-8")
    argv = ["--model", "qgen-small-ja", "--task", task, "--input", str(tsv), "--output", str(out), "--eval",
            "--no-hallucination", "--max-new-tokens", "8", "--num-beams", "1"]
    assert predict_main(argv) == 0
    printed = capsys.readouterr().out
    metrics_file = tmp_path / "preds.metrics.json"
    assert output_paths(out)[1] == metrics_file and metrics_file.is_file()
    assert not (tmp_path / "preds.jsonl.metrics.json").exists()
    saved = json.loads(metrics_file.read_text(encoding="utf-8"))
    assert saved["task"] == task and {"bleu", "exact_match", "char_f1"} <= set(saved["metrics"])  # all kept
    names = [line.split()[0] for line in printed.splitlines() if line and not line.startswith("(")]
    if task == "qa":
        assert names == ["n", "exact_match", "char_f1"]
    else:
        assert "bleu" in names and "rougeL" in names and "exact_match" not in names and "char_f1" not in names


def test_qgen_eval_picks_the_figures_from_the_sources():
    qa = [{"source": "question: 何? context: あ", "prediction": "a", "target": "a"}]
    qg = [{"source": "<hl> あ <hl> い", "prediction": "a", "target": "a"}]
    assert records_task(qa) == "qa" and records_task(qg + qa) == "qg"
    metrics = {"n": 1, "exact_match": 1.0, "char_f1": 1.0, "bleu": 0.0, "bleu_signature": "s", "rougeL": 1.0}
    assert "bleu" not in format_metrics(metrics, task="qa") and "exact_match" in format_metrics(metrics, task="qa")
    assert "exact_match" not in format_metrics(metrics, task="qg").split("\n(")[0]
    assert format_metrics(metrics).count("\n") == 4  # no task: every figure, as before
