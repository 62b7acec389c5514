"""prepare_quiz: JCommonsenseQA real files, synthetic JAQKET (choice reduction rule), templates."""

import json
import random

import pytest

from qgen.cli import prepare_quiz
from qgen.data.examples import read_examples

HEADER = "以下の問題について、0, 1, 2, 3, 4の選択肢から選んで答えてください。"


def _run(tmp_path, inp, fmt, style, *extra, name="out.json"):
    out = tmp_path / name
    assert prepare_quiz.main(["--input", str(inp), "--format", fmt, "--style", style, "--output", str(out), *extra]) == 0
    return json.loads(out.read_text(encoding="utf-8")), out


@pytest.mark.parametrize("split, count", [("train", 60), ("valid", 40)])  # the rows in tests/fixtures/
def test_jcqa_real_files_both_styles(tmp_path, capsys, jcqa_train, jcqa_valid, split, count):
    src = {"train": jcqa_train, "valid": jcqa_valid}[split]
    raw = [json.loads(line) for line in src.read_text(encoding="utf-8").splitlines() if line.strip()]
    train_rows, _ = _run(tmp_path, src, "jcommonsenseqa", "train", name="t.json")
    eval_rows, eval_path = _run(tmp_path, src, "jcommonsenseqa", "eval", name="e.json")
    assert len(train_rows) == len(eval_rows) == len(raw) == count
    for rec, tr, ev in zip(raw, train_rows, eval_rows):
        assert tr["id"] == ev["id"] == str(rec["q_id"])
        label, text = ev["output"].split(": ", 1)
        assert int(label) == rec["label"]  # the answer is the labelled choice
        assert ev["input"].split("\n")[rec["label"]] == ev["output"]
        assert tr["output"] == ev["output"]
        assert tr["instruction"].startswith(HEADER + "\n\n問題: ") and tr["instruction"].endswith("\n\n\n### 回答:\n")
        assert ev["instruction"].startswith(HEADER + "\n\n問題: ") and ev["instruction"].endswith("\n")
        assert set(ev) == {"instruction", "input", "output", "id"} and set(tr) == {"instruction", "output", "id"}
    examples = read_examples(eval_path)
    assert len(examples) == count and examples[0].id == str(raw[0]["q_id"]) and examples[0].input.startswith("0: ")
    capsys.readouterr()


def test_jcqa_first_valid_record_exact(tmp_path, capsys, jcqa_valid):
    # {"q_id": 8939, "question": "電子機器で使用される最も主要な電子回路基板の事をなんと言う？", choices 掲示板 … まな板, "label": 2}
    (train,), _ = _run(tmp_path, jcqa_valid, "jcommonsenseqa", "train", "--limit", "1", name="t.json")
    (ev,), _ = _run(tmp_path, jcqa_valid, "jcommonsenseqa", "eval", "--limit", "1", name="e.json")
    choices = "0: 掲示板\n1: パソコン\n2: マザーボード\n3: ハードディスク\n4: まな板"
    question = "電子機器で使用される最も主要な電子回路基板の事をなんと言う?"  # NFKC: ？ → ?
    assert train == {"instruction": f"{HEADER}\n\n問題: {question}\n選択肢\n\n{choices}\n\n\n### 回答:\n",
                     "output": "2: マザーボード", "id": "8939"}
    assert ev == {"instruction": f"{HEADER}\n\n問題: {question}\n", "input": choices, "output": "2: マザーボード",
                  "id": "8939"}
    (raw,), _ = _run(tmp_path, jcqa_valid, "jcommonsenseqa", "eval", "--limit", "1", "--no-normalize", name="r.json")
    assert "言う？" in raw["instruction"]
    capsys.readouterr()


def _jaqket_records(n=40, seed=0):
    rng = random.Random(seed)
    pool = [f"候補{i}" for i in range(200)]
    recs = []
    for i in range(n):
        cands = rng.sample(pool, 20)
        recs.append({"qid": f"QA20CAPR-{i:04d}", "question": f"問題{i}の答えは?", "answer_entity": cands[rng.randrange(20)],
                     "answer_candidates": cands, "original_question": "x"})
    return recs


def _jsonl(path, recs):
    path.write_text("".join(json.dumps(r, ensure_ascii=False) + "\n" for r in recs), encoding="utf-8")
    return path


def test_jaqket_reduced_to_five_choices_with_the_answer(tmp_path, capsys):
    recs = _jaqket_records()
    recs[0]["answer_candidates"] = [c for c in recs[0]["answer_candidates"] if c != recs[0]["answer_entity"]]
    rows, _ = _run(tmp_path, _jsonl(tmp_path / "jaqket.json", recs), "jaqket", "eval")
    assert [r["id"] for r in rows] == [r["qid"] for r in recs]
    positions = set()
    for rec, row in zip(recs, rows):
        lines = row["input"].split("\n")
        assert [line.split(": ", 1)[0] for line in lines] == ["0", "1", "2", "3", "4"]
        texts = [line.split(": ", 1)[1] for line in lines]
        assert len(set(texts)) == 5 and texts.count(rec["answer_entity"]) == 1
        assert set(texts) - {rec["answer_entity"]} <= set(rec["answer_candidates"])
        label = texts.index(rec["answer_entity"])
        assert row["output"] == f"{label}: {rec['answer_entity']}"
        positions.add(label)
    assert positions == {0, 1, 2, 3, 4}  # the answer's position varies
    capsys.readouterr()


def test_jaqket_choices_deterministic_seeded_and_order_independent(tmp_path, capsys):
    recs = _jaqket_records(30)
    a, _ = _run(tmp_path, _jsonl(tmp_path / "a.json", recs), "jaqket", "train", name="a_out.json")
    b, _ = _run(tmp_path, _jsonl(tmp_path / "b.json", recs[::-1]), "jaqket", "train", name="b_out.json")
    c, _ = _run(tmp_path, _jsonl(tmp_path / "a.json", recs), "jaqket", "train", "--seed", "1", name="c_out.json")
    assert a == b[::-1]
    assert sum(x != y for x, y in zip(a, c)) > 20
    assert a == _run(tmp_path, tmp_path / "a.json", "jaqket", "train", name="a2_out.json")[0]
    capsys.readouterr()


def test_template_file_overrides(tmp_path, capsys, jcqa_valid):
    tpl = tmp_path / "tpl.yaml"
    tpl.write_text('header: "Choose one of {labels}."\noutput: "{label}"\nchoice: "({label}) {text}"\n', encoding="utf-8")
    (row,), _ = _run(tmp_path, jcqa_valid, "jcommonsenseqa", "train", "--limit", "1", "--template-file", str(tpl))
    assert row["instruction"].startswith("Choose one of 0, 1, 2, 3, 4.\n\n問題: ")
    assert "\n(2) マザーボード\n" in row["instruction"] and row["output"] == "2"
    tpl_json = tmp_path / "tpl.json"
    tpl_json.write_text(json.dumps({"eval_input": "選択肢:\n{choices}"}), encoding="utf-8")
    (row,), _ = _run(tmp_path, jcqa_valid, "jcommonsenseqa", "eval", "--limit", "1", "--template-file", str(tpl_json))
    assert row["input"].startswith("選択肢:\n0: 掲示板\n")
    capsys.readouterr()


def test_num_choices_option(tmp_path, capsys):
    rows, _ = _run(tmp_path, _jsonl(tmp_path / "j.json", _jaqket_records(5)), "jaqket", "eval", "--num-choices", "3")
    assert all(len(r["input"].split("\n")) == 3 for r in rows)
    assert rows[0]["instruction"].startswith("以下の問題について、0, 1, 2の選択肢から")
    capsys.readouterr()


def test_json_list_input_and_unnamed_bad_record(tmp_path, capsys):
    recs = _jaqket_records(2)
    del recs[1]["qid"]
    path = tmp_path / "list.json"
    path.write_text(json.dumps(recs, ensure_ascii=False, indent=1), encoding="utf-8")
    rows, _ = _run(tmp_path, path, "jaqket", "train")
    assert [r["id"] for r in rows] == [recs[0]["qid"]]
    assert "missing key 'qid': 1 (record 2)" in capsys.readouterr().err
