"""Bad input for every data_prep command: malformed files are errors (exit 2, file and position named, no output);
unusable records are skipped, counted and reported by id; odd but valid input (BOM, CRLF, tabs, newlines) converts."""

import copy
import json

import pytest

from qgen.cli import prepare_jsquad, prepare_korquad, prepare_quiz
from qgen.core.errors import QgenInputError
from qgen.data import jsquad, tsv
from qgen.data.examples import read_tsv
from qgen.data.squad import read_squad

CONTEXT = "東京 [SEP] 東京は日本の首都である。大阪は西にある。"
GOOD = {"data": [{"title": "東京", "paragraphs": [{"context": CONTEXT, "qas": [
    {"id": "q1", "question": "日本の首都は?", "answers": [{"text": "東京", "answer_start": CONTEXT.index("東京は")}]},
    {"id": "q2", "question": "西にあるのは?", "answers": [{"text": "大阪", "answer_start": CONTEXT.index("大阪")}]},
]}]}]}


def _doc(**changes):
    """GOOD with q2 (data[0].paragraphs[0].qas[1]) changed: keys set to a value, or deleted when the value is ..."""
    doc = copy.deepcopy(GOOD)
    qa = doc["data"][0]["paragraphs"][0]["qas"][1]
    for key, value in changes.items():
        target = qa["answers"][0] if key in ("text", "answer_start") else qa
        if value is ...:
            del target[key]
        else:
            target[key] = value
    return doc


def _write(path, obj, **kw):
    path.write_text(obj if isinstance(obj, str) else json.dumps(obj, ensure_ascii=False, **kw), encoding="utf-8")
    return path


def _run_jsquad(tmp_path, doc, task="qa", extra=()):
    inp = doc if not isinstance(doc, (dict, list, str)) else _write(tmp_path / "in.json", doc)
    out = tmp_path / "out.tsv"
    out.write_text("old\tcontent\there\n", encoding="utf-8")
    rc = prepare_jsquad.main(["--input", str(inp), "--task", task, "--output", str(out), *extra])
    return rc, out


def test_good_file_converts(tmp_path, capsys):
    rc, out = _run_jsquad(tmp_path, GOOD, "aqg_hl")
    assert rc == 0
    rows = read_tsv(out)
    assert [(r.id, r.source, r.target) for r in rows] == [
        ("q1", "東京 [SEP] <hl> 東京 <hl> は日本の首都である。大阪は西にある。", "日本の首都は?"),
        ("q2", "東京 [SEP] 東京は日本の首都である。 <hl> 大阪 <hl> は西にある。", "西にあるのは?"),
    ]
    assert "skipped 0" in capsys.readouterr().out


@pytest.mark.parametrize(
    "text, where",
    [
        (json.dumps(GOOD, ensure_ascii=False)[:-7], "line 1"),  # truncated
        ('{"data": [\n  {"paragraphs": []},\n  oops\n]}', "line 3"),
    ],
)
def test_malformed_json_is_an_error_naming_file_and_position(tmp_path, capsys, text, where):
    rc, out = _run_jsquad(tmp_path, text)
    err = capsys.readouterr().err
    assert rc == 2
    assert err.startswith(f"error: {tmp_path / 'in.json'}, {where}: malformed JSON (column ")
    assert "Traceback" not in err
    assert out.read_text(encoding="utf-8") == "old\tcontent\there\n"  # output untouched


@pytest.mark.parametrize(
    "doc, message",
    [
        ([GOOD], "top level is a JSON list"),
        ("42", "top level is a JSON int"),
        ({"version": "1"}, "field 'data': missing key"),
        ({"data": {"x": 1}}, "field 'data': expected a list"),
        ({"data": [{"title": "t"}]}, "record data[0]: expected an object with a 'paragraphs' list"),
        ({"data": [{"paragraphs": [{"context": "c"}]}]}, "record data[0].paragraphs[0]: expected an object with a 'qas'"),
        ({"data": [{"paragraphs": ["text"]}]}, "record data[0].paragraphs[0]"),
        ("", "empty file"),
    ],
)
def test_wrong_structure_is_an_error(tmp_path, capsys, doc, message):
    rc, out = _run_jsquad(tmp_path, doc)
    assert rc == 2
    assert message in capsys.readouterr().err
    assert out.read_text(encoding="utf-8").startswith("old")


def test_not_utf8_and_missing_file(tmp_path, capsys):
    bad = tmp_path / "latin1.json"
    bad.write_bytes(json.dumps({"data": [{"title": "café"}]}, ensure_ascii=False).encode("latin-1"))
    assert _run_jsquad(tmp_path, bad)[0] == 2
    assert "not UTF-8 (byte offset" in capsys.readouterr().err
    assert _run_jsquad(tmp_path, tmp_path / "nope.json")[0] == 2
    assert "nope.json: file not found" in capsys.readouterr().err


@pytest.mark.parametrize(
    "changes, reason",
    [
        ({"id": ...}, "missing key 'id'"),
        ({"question": ...}, "missing key 'question'"),
        ({"answers": ...}, "missing key 'answers'"),
        ({"answer_start": ...}, "answer missing 'text' or 'answer_start'"),
        ({"question": 7}, "non-string 'question'"),
        ({"id": ["q2"]}, "non-string 'id'"),
        ({"text": 5}, "non-string answer text"),
        ({"answer_start": "19"}, "answer_start is not an integer"),
        ({"answer_start": True}, "answer_start is not an integer"),
        ({"answer_start": 19.0}, "answer_start is not an integer"),
        ({"question": "  "}, "empty 'question'"),
        ({"text": ""}, "empty answer text"),
        ({"answers": []}, "empty 'answers'"),
        ({"answers": [], "is_impossible": True}, "unanswerable (no answers)"),
        ({"answer_start": 99}, "answer_start out of range"),
        ({"answer_start": -1}, "answer_start out of range"),
        ({"answer_start": CONTEXT.index("東京は")}, "answer text not at answer_start"),  # points at 東京, not 大阪
        ({"id": "q1"}, "duplicate id"),
        ({"id": "q\t2"}, "id contains whitespace control characters"),
    ],
)
def test_bad_records_are_skipped_counted_and_reported(tmp_path, capsys, changes, reason):
    rc, out = _run_jsquad(tmp_path, _doc(**changes))
    captured = capsys.readouterr()
    assert rc == 0
    assert [r.id for r in read_tsv(out)] == ["q1"]
    assert "written 1" in captured.out and "skipped 1" in captured.out
    assert f"  {reason}: 1 (" in captured.err


def test_skipped_record_without_id_is_named_by_position(tmp_path):
    questions, skips = read_squad(_write(tmp_path / "in.json", _doc(id=...)))
    assert [q.id for q in questions] == ["q1"]
    assert skips.by_reason == {"missing key 'id'": ["data[0].paragraphs[0].qas[1]"]}


@pytest.mark.parametrize("context, reason", [("", "empty context"), (None, "missing or non-string context"),
                                             (3, "missing or non-string context")])
def test_bad_context_skips_its_questions(tmp_path, capsys, context, reason):
    doc = copy.deepcopy(GOOD)
    doc["data"][0]["paragraphs"][0]["context"] = context
    rc, out = _run_jsquad(tmp_path, doc)
    assert rc == 2  # nothing left to write
    captured = capsys.readouterr()
    assert "no usable questions (2 skipped)" in captured.err
    assert out.read_text(encoding="utf-8").startswith("old")
    _, skips = read_squad(tmp_path / "in.json")
    assert skips.by_reason == {reason: ["q1", "q2"]}


def test_context_with_highlight_token_is_skipped_for_aqg_hl_only(tmp_path, capsys):
    doc = copy.deepcopy(GOOD)
    doc["data"][0]["paragraphs"][0]["context"] = CONTEXT + "<hl>"
    assert _run_jsquad(tmp_path, doc, "aqg_hl")[0] == 2
    assert "context already contains <hl>: 2 (q1, q2)" in capsys.readouterr().err
    assert _run_jsquad(tmp_path, doc, "aqg")[0] == 0


def test_bom_and_crlf_input(tmp_path, capsys):
    text = json.dumps(GOOD, ensure_ascii=False, indent=2).replace("\n", "\r\n")
    path = tmp_path / "in.json"
    path.write_bytes(b"\xef\xbb\xbf" + text.encode("utf-8"))
    rc, out = _run_jsquad(tmp_path, path, "aqg")
    assert rc == 0
    assert [r.target for r in read_tsv(out)] == ["日本の首都は?", "西にあるのは?"]
    capsys.readouterr()


def test_tab_and_newlines_inside_texts_never_break_rows(tmp_path, capsys):
    ctx = "東京\t[SEP] 東京は\r\n日本の\u2028首都\x1eである。大阪は西にある。"
    doc = copy.deepcopy(GOOD)
    para = doc["data"][0]["paragraphs"][0]
    para["context"] = ctx
    para["qas"][0]["question"] = "日本の\t首都は\n?"
    para["qas"][0]["answers"][0]["answer_start"] = ctx.index("東京は")
    para["qas"][1]["answers"][0]["answer_start"] = ctx.index("大阪")
    for task in jsquad.TASKS:
        rc, out = _run_jsquad(tmp_path, doc, task)
        assert rc == 0
        rows = read_tsv(out)  # would raise on a broken row
        assert len(rows) == 2 == len(out.read_text(encoding="utf-8").splitlines())
        if task == "qa":
            assert rows[0].source.startswith("question: 日本の首都は? context: 東京 [SEP] 東京は日本の首都である。")
    capsys.readouterr()


def test_tsv_writer_refuses_unsafe_fields_and_leaves_no_partial_output(tmp_path):
    with pytest.raises(ValueError, match="contains"):
        tsv.format_row(("id", "a\tb", "c"))
    with pytest.raises(ValueError, match="empty"):
        tsv.format_row(("id", "a", " "))
    a, b = tmp_path / "a.tsv", tmp_path / "b.tsv"
    a.write_text("old\n", encoding="utf-8")
    with pytest.raises(ValueError):
        tsv.write_tsv_files({a: [("1", "s", "t")], b: [("2", "s", "t"), ("3", "s\n", "t")]})
    assert a.read_text(encoding="utf-8") == "old\n" and not b.exists()
    assert sorted(p.name for p in tmp_path.iterdir()) == ["a.tsv"]  # no temp files left


def test_holdout_needs_two_contexts(tmp_path, capsys):
    out = tmp_path / "dev.tsv"
    rc, _ = _run_jsquad(tmp_path, GOOD, extra=["--holdout", "0.5", "--holdout-output", str(out)])
    assert rc == 2 and "need at least 2" in capsys.readouterr().err and not out.exists()


# ---- quiz ----

JCQA = {"q_id": 1, "question": "空は何色?", "choice0": "赤", "choice1": "青", "choice2": "緑", "choice3": "黒",
        "choice4": "白", "label": 1}


def _quiz_file(tmp_path, records, *, raw=None, crlf=False, bom=False):
    text = raw if raw is not None else "\n".join(json.dumps(r, ensure_ascii=False) for r in records) + "\n"
    if crlf:
        text = text.replace("\n", "\r\n")
    path = tmp_path / "quiz.jsonl"
    path.write_bytes((b"\xef\xbb\xbf" if bom else b"") + text.encode("utf-8"))
    return path


def _run_quiz(tmp_path, path, fmt="jcommonsenseqa", style="eval", extra=()):
    out = tmp_path / "quiz_out.json"
    rc = prepare_quiz.main(["--input", str(path), "--format", fmt, "--style", style, "--output", str(out), *extra])
    return rc, out


@pytest.mark.parametrize(
    "change, reason",
    [
        ({"label": 5}, "label 5 out of range 0..4"),
        ({"label": "1"}, "label is not an integer"),
        ({"question": ""}, "empty question or choice"),
        ({"choice3": None}, "non-string question or choice"),
        ({"q_id": None}, "bad 'q_id'"),
        ({"q_id": 0}, "duplicate id"),
        ({"label": ...}, "missing key 'label'"),
        ({"question": ...}, "missing key 'question'"),
    ],
)
def test_jcqa_bad_records_skipped(tmp_path, capsys, change, reason):
    bad = dict(JCQA, q_id=2)
    for k, v in change.items():
        if v is ...:
            del bad[k]
        else:
            bad[k] = v
    first = dict(JCQA, q_id=0)
    rc, out = _run_quiz(tmp_path, _quiz_file(tmp_path, [first, bad]))
    captured = capsys.readouterr()
    assert rc == 0
    assert [r["id"] for r in json.loads(out.read_text(encoding="utf-8"))] == ["0"]
    assert f"  {reason}: 1 (" in captured.err


def test_jcqa_truncated_line_and_wrong_type(tmp_path, capsys):
    raw = json.dumps(JCQA, ensure_ascii=False) + "\n" + json.dumps(JCQA, ensure_ascii=False)[:-5] + "\n"
    rc, out = _run_quiz(tmp_path, _quiz_file(tmp_path, [], raw=raw))
    assert rc == 2 and not out.exists()
    assert f"error: {tmp_path / 'quiz.jsonl'}, line 2: malformed JSON line" in capsys.readouterr().err
    rc, _ = _run_quiz(tmp_path, _quiz_file(tmp_path, [], raw='"just a string"\n'))
    assert rc == 2
    assert "no usable quizzes (1 skipped)" in capsys.readouterr().err


def test_jcqa_bom_crlf_tabs_newlines(tmp_path, capsys):
    rec = dict(JCQA, question="空は\r\n何色\t?", choice1="青\nい")
    rc, out = _run_quiz(tmp_path, _quiz_file(tmp_path, [rec], crlf=True, bom=True))
    assert rc == 0
    (row,) = json.loads(out.read_text(encoding="utf-8"))
    assert row["instruction"].endswith("問題: 空は何色?\n")  # tab → space, which neologdn drops next to "?"
    assert row["input"].split("\n") == ["0: 赤", "1: 青い", "2: 緑", "3: 黒", "4: 白"]
    assert row["output"] == "1: 青い"
    capsys.readouterr()


def test_jaqket_too_few_candidates(tmp_path, capsys):
    recs = [{"qid": "QA1", "question": "q?", "answer_entity": "A", "answer_candidates": ["A", "B", "C", "B", "D"]},
            {"qid": "QA2", "question": "q?", "answer_entity": "A", "answer_candidates": ["B", "C", "D", "E"]},
            {"qid": "QA3", "question": "q?", "answer_entity": "A", "answer_candidates": "B C D E"}]
    rc, out = _run_quiz(tmp_path, _quiz_file(tmp_path, recs), fmt="jaqket")
    assert rc == 0
    err = capsys.readouterr().err
    assert "fewer than 4 distinct wrong candidates: 1 (QA1)" in err
    assert "answer_candidates is not a list of strings: 1 (QA3)" in err
    (row,) = json.loads(out.read_text(encoding="utf-8"))
    assert row["id"] == "QA2" and sorted(row["input"].split("\n"))[0][3:] in "ABCDE"


@pytest.mark.parametrize(
    "name, text, message",
    [
        ("t.json", '{"header": "x", "bogus": "y"}', "field 'bogus': unknown template field"),
        ("t.json", '{"train": "{question} {nope}"}', "bad placeholder"),
        ("t.json", '{"train": 3}', "field 'train': expected a string"),
        ("t.json", '["x"]', "expected a mapping"),
        ("t.yaml", "train: [unclosed\n", "malformed YAML"),
    ],
)
def test_bad_template_file(tmp_path, capsys, name, text, message):
    tpl = tmp_path / name
    tpl.write_text(text, encoding="utf-8")
    rc, out = _run_quiz(tmp_path, _quiz_file(tmp_path, [JCQA]), extra=["--template-file", str(tpl)])
    assert rc == 2 and not out.exists()
    assert message in capsys.readouterr().err


# ---- korquad paraphrases ----

@pytest.mark.parametrize("para, message", [(["x"], "expected an object"), ({"日本の首都は?": "東京はどこ"}, "expected a list"),
                                           ({"q": [1]}, "expected a list of strings")])
def test_bad_paraphrase_file(tmp_path, capsys, para, message):
    inp = _write(tmp_path / "in.json", GOOD)
    pfile = _write(tmp_path / "para.json", para)
    out = tmp_path / "out.jsonl"
    rc = prepare_korquad.main(["--input", str(inp), "--output", str(out), "--paraphrases", str(pfile)])
    assert rc == 2 and not out.exists()
    err = capsys.readouterr().err
    assert err.startswith(f"error: {pfile}") and message in err


def test_qgen_input_error_names_everything():
    e = QgenInputError("bad", path="f.json", line=3, field="x")
    assert str(e) == "f.json, line 3, field 'x': bad"


@pytest.mark.parametrize("header", ["id\tsource\ttarget", "qid\tInput\tOutput", "\tquestion\tanswer"])
def test_a_tsv_header_row_is_skipped_and_said(tmp_path, caplog, header):
    # issue 29: a spreadsheet's column names were read as an example (and trained on)
    path = tmp_path / "t.tsv"
    path.write_text(f"{header}\nq1\tanswer: 東京 context: 東京は首都\t首都は?\n", encoding="utf-8")
    with caplog.at_level("WARNING"):
        rows = read_tsv(path)
    assert [r.id for r in rows] == ["q1"]
    said = [r.getMessage() for r in caplog.records]
    assert len(said) == 1 and f"{path}, line 1: a header row" in said[0] and "skipped (1 row)" in said[0], said


def test_only_the_first_row_can_be_a_header(tmp_path):
    path = tmp_path / "t.tsv"
    path.write_text("q1\tanswer: 東京 context: 東京は首都\t首都は?\nq2\tsource\ttarget\n", encoding="utf-8")
    assert [r.id for r in read_tsv(path)] == ["q1", "q2"]
