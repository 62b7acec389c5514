"""`qgen eval` (qgen.cli.eval) and qgen.evaluation.records: input checking, metrics equal qgen.evaluation.metrics computed directly, report and JSON outputs."""

import json

import pytest

from qgen.cli.eval import main, output_paths
from qgen.core.errors import QgenInputError
from qgen.evaluation import metrics as M
from qgen.evaluation.hallucination import QUESTION_STOP_WORDS, hallucinations
from qgen.evaluation.records import evaluate_records, read_predictions, reference_from_source, scales, worst_first


@pytest.fixture(scope="module")
def records(jsquad_valid):
    """The fixture's 150 JSQuAD questions as QG predictions: a third unchanged, a third with ね inserted, a third with a false start."""
    data = json.loads(jsquad_valid.read_text(encoding="utf-8"))["data"]
    qas = [(q, p["context"]) for a in data for p in a["paragraphs"] for q in p["qas"]]
    out = []
    for i, (q, context) in enumerate(qas):
        question = q["question"]
        pred = [question, question[:-1] + "ね" + question[-1], "富士山の" + question[len(question) // 2 :]][i % 3]
        out.append(
            {
                "id": q["id"],
                "source": f"answer: {q['answers'][0]['text']} context: {context}",
                "prediction": pred,
                "target": question if i % 2 else [question, question + "。"],
            }
        )
    return out


def _write(path, lines):
    path.write_text("".join(line + "\n" for line in lines), encoding="utf-8")
    return path


GOOD = (
    '{"id": "1", "source": "answer: x context: 今日は天気だ", "prediction": "今日は天気だ", "target": "今日は天気だ"}'
)


@pytest.mark.parametrize(
    ("line", "field", "message"),
    [
        ("{not json", None, "malformed JSON"),
        ("[1, 2]", None, "expected a JSON object"),
        ('{"id": "2", "source": "s", "target": "t"}', "prediction", "missing field"),
        ('{"id": "2", "source": "s", "prediction": 3, "target": "t"}', "prediction", "expected a string"),
        ('{"id": "2", "source": "s", "prediction": "p"}', "target", "missing field"),
        ('{"id": "2", "source": "s", "prediction": "p", "target": []}', "target", "non-empty list"),
        ('{"id": "2", "source": "s", "prediction": "p", "target": {"a": 1}}', "target", "string or list"),
        ('{"id": "2", "prediction": "p", "target": "t"}', "source", "missing field"),
    ],
)
def test_bad_lines_name_file_line_and_field(tmp_path, line, field, message):
    path = _write(tmp_path / "p.jsonl", [GOOD, "", line])
    with pytest.raises(QgenInputError, match=message) as e:
        read_predictions(path)
    assert e.value.line == 3 and e.value.field == field and str(path) in str(e.value)
    if field:
        assert f"line 3, field '{field}'" in str(e.value)


def test_empty_or_missing_file(tmp_path):
    with pytest.raises(QgenInputError, match="no prediction records"):
        read_predictions(_write(tmp_path / "e.jsonl", ["", "  "]))
    with pytest.raises(QgenInputError, match="file not found"):
        read_predictions(tmp_path / "missing.jsonl")
    with pytest.raises(QgenInputError, match="is a directory, expected a file"):
        read_predictions(tmp_path)
    # without the hallucination check a source is not needed
    path = _write(tmp_path / "n.jsonl", ['{"prediction": "p", "target": ["t", "p"]}'])
    assert read_predictions(path, source_field=None)[0]["target"] == ["t", "p"]


def test_evaluate_records_rejects_bad_records():
    with pytest.raises(QgenInputError, match="no prediction records"):
        evaluate_records([])
    with pytest.raises(QgenInputError, match="record 1, field 'prediction'"):
        evaluate_records([json.loads(GOOD), {"source": "s", "target": "t"}])


def test_reference_from_source():
    assert reference_from_source("answer: 1958年 context: 東京タワー [SEP] 1958年完成") == "東京タワー [SEP] 1958年完成"
    assert reference_from_source("question: 何 Context：本文") == "本文"
    assert reference_from_source("本文だけ") == "本文だけ"
    # AQG-HL sources: the markers go, Japanese text closes up, ASCII words keep their space
    assert reference_from_source("梅雨 [SEP] 北海道と<hl>小笠原諸島<hl>を除く") == "梅雨 [SEP] 北海道と小笠原諸島を除く"
    assert reference_from_source("<hl> Tokyo <hl> Tower <HL>") == "Tokyo Tower"


def test_metrics_equal_direct_computation(records):
    result = evaluate_records(records, workers=1)
    m, examples = result["metrics"], result["examples"]
    preds, refs = [r["prediction"] for r in records], [r["target"] for r in records]
    assert m["n"] == 150 and len(examples) == 150
    assert m["exact_match"] == pytest.approx(M.exact_match(preds, refs))
    assert m["exact_match"] == pytest.approx(1 / 3)  # only the unchanged third matches exactly
    assert m["char_f1"] == pytest.approx(M.char_f1(preds, refs))
    assert (m["bleu"], m["bleu_signature"]) == M.bleu_with_signature(preds, refs)
    assert m["rougeL"] == pytest.approx(M.rouge(preds, refs)["rougeL"])
    contexts = [r["source"].split("context: ", 1)[1] for r in records]
    found = hallucinations(preds, contexts, QUESTION_STOP_WORDS)
    assert [set(e["hallucinated"]) for e in examples] == found
    assert m["hallucination_rate"] == pytest.approx(sum(map(bool, found)) / 150)
    # 富士山 is in none of these contexts: every false-start prediction is flagged with it
    assert all("富士" in e["hallucinated"] or "富士山" in e["hallucinated"] for e in examples[2::3])
    assert 0 < m["hallucinated_word_rate"] < m["hallucination_rate"]
    assert m["distinct_rate"] == pytest.approx(len(set(preds)) / 150)


def test_distinct_and_on_topic_rates():
    rows = [
        {"source": "<hl> 甲府市 <hl> は山梨県の県庁所在地である。", "prediction": "山梨県の県庁所在地はどこ?", "target": "x"},
        {"source": "東京タワーは <hl> 1958年 <hl> に完成した。", "prediction": "山梨県の県庁所在地はどこ?", "target": "x"},
        {"source": "富士山は日本一高い山である。", "prediction": "それは何?", "target": "x"},
    ]
    m = evaluate_records(rows, workers=1)["metrics"]
    assert m["distinct_rate"] == pytest.approx(2 / 3)  # the repeated question counts once
    # 1: 山梨県 / 県庁所在地 are in its source; 2: none of its words is; 3: only stop words (何) and no content word
    assert m["on_topic_rate"] == pytest.approx(1 / 3)


def test_worst_first(records):
    examples = evaluate_records(records[:30], workers=1)["examples"]
    ordered = worst_first(examples)
    counts = [len(e["hallucinated"]) for e in ordered]
    assert counts == sorted(counts, reverse=True) and counts[0] > 0
    f1 = [e["f1"] for e in worst_first(examples, "f1")]
    assert f1 == sorted(f1)
    with pytest.raises(ValueError, match="unknown sort"):
        worst_first(examples, "nope")


def test_command_end_to_end(tmp_path, records, capsys):
    preds = tmp_path / "preds.jsonl"
    preds.write_text("".join(json.dumps(r, ensure_ascii=False) + "\n" for r in records[:60]), encoding="utf-8")
    assert main(["--predictions", str(preds), "--workers", "1"]) == 0
    out = capsys.readouterr().out
    for name in ("bleu", "tok:ja-mecab", "rouge1", "rougeL", "hallucination_rate"):  # questions: BLEU / ROUGE
        assert name in out
    assert "exact_match  " not in out and "char_f1  " not in out  # kept in the metrics file, not printed (issue 29)
    saved = json.loads((tmp_path / "preds.metrics.json").read_text(encoding="utf-8"))  # named after the predictions
    metrics = evaluate_records(records[:60])["metrics"]
    assert saved == {"predictions": str(preds), "source_field": "source", **metrics, "scales": scales(metrics)}
    assert saved["scales"]["bleu"] == "0-100" and saved["scales"]["rougeL"] == "0-1"
    page = (tmp_path / "preds.report.html").read_text(encoding="utf-8")
    assert page.count("<mark>") > 0 and "data:image/png;base64," in page
    # Markdown report and a metrics path of one's own
    assert (
        main(
            [
                "--predictions",
                str(preds),
                "--report",
                str(tmp_path / "r.md"),
                "--metrics",
                str(tmp_path / "m.json"),
                "--no-hallucination",
                "--max-rows",
                "5",
            ]
        )
        == 0
    )
    md = (tmp_path / "r.md").read_text(encoding="utf-8")
    assert "| exact_match |" in md and "hallucination_rate" not in md and "(5 of 60" in md
    assert "hallucination_rate" not in json.loads((tmp_path / "m.json").read_text(encoding="utf-8"))


def test_cli_reports_bad_input_without_traceback(tmp_path, capsys):
    from qgen.cli import main as cli_main

    path = _write(tmp_path / "bad.jsonl", [GOOD, '{"source": "s", "prediction": "p", "target": 5}'])
    assert cli_main(["eval", "--predictions", str(path)]) == 2
    err = capsys.readouterr().err
    assert err.startswith("error: ") and "line 2, field 'target'" in err and "Traceback" not in err


def test_two_evaluations_in_one_folder_keep_their_own_files(tmp_path, records, capsys):
    a = _write(tmp_path / "beam.jsonl", [json.dumps(r, ensure_ascii=False) for r in records[:10]])
    b = _write(tmp_path / "greedy.jsonl", [json.dumps(r, ensure_ascii=False) for r in records[10:25]])
    for path in (a, b):
        assert main(["--predictions", str(path), "--no-hallucination"]) == 0
        assert f"wrote {tmp_path / path.stem}.report.html and {tmp_path / path.stem}.metrics.json" in capsys.readouterr().err
    assert json.loads((tmp_path / "beam.metrics.json").read_text(encoding="utf-8"))["n"] == 10
    assert json.loads((tmp_path / "greedy.metrics.json").read_text(encoding="utf-8"))["n"] == 15
    assert "beam.jsonl" in (tmp_path / "beam.report.html").read_text(encoding="utf-8")
    # --output-dir: the same names, in that folder
    assert main(["--predictions", str(a), "--no-hallucination", "--output-dir", str(tmp_path / "out")]) == 0
    assert sorted(p.name for p in (tmp_path / "out").iterdir()) == ["beam.metrics.json", "beam.report.html"]
    assert output_paths(a, report=tmp_path / "r.md") == (tmp_path / "r.md", tmp_path / "beam.metrics.json")
