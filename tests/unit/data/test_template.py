"""qgen prepare with templates of one's own: every record source, the steps, the output formats, and template errors
(one `error:` line naming the template line and the record, exit 2, nothing written)."""

import json
import textwrap

import pytest

from qgen import cli
from qgen.cli import prepare as prepare_cli
from qgen.data.template import load_template


def _tpl(tmp_path, text, name="tpl.yaml"):
    path = tmp_path / name
    path.write_text(textwrap.dedent(text).lstrip("\n"), encoding="utf-8")
    return path


def _run(capsys, *args):
    rc = prepare_cli.main([str(a) for a in args])
    said = capsys.readouterr()
    return rc, said.out, said.err


def _error(capsys, *args) -> str:
    """The one error line of a failing run (exit 2, no traceback)."""
    rc, out, err = _run(capsys, *args)
    assert rc == 2, (out, err)
    lines = err.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: "), err
    return lines[0]


CSV_TEMPLATE = """
    description: CSV quiz → TSV
    input: csv
    fields:
      id: qid
      question: question
      answer: answer
    steps:
      - clean: [question, answer]
      - require: {fields: [question, answer], reason: empty text}
      - unique: id
    output:
      format: tsv
      id: "{id}"
      source: "question: {question}"
      target: "{answer}"
"""


def test_csv_to_tsv_with_skips(tmp_path, capsys):
    src = tmp_path / "in.csv"
    src.write_text('qid,question,answer\n1,"県庁所在地は、どこ？",甲府市\n2, ,x\n1,重複,y\n3,"改行\nあり",z\n4,too,many,cells\n',
                   encoding="utf-8")
    out = tmp_path / "out.tsv"
    rc, said, err = _run(capsys, "--input", src, "--template", _tpl(tmp_path, CSV_TEMPLATE), "--output", out)
    assert rc == 0 and "written 2" in said and "skipped 3" in said
    assert "empty text: 1 (2)" in err and "duplicate id: 1 (1)" in err and "4 cells, the header has 3: 1" in err
    assert out.read_text(encoding="utf-8") == "1\tquestion: 県庁所在地は、どこ?\t甲府市\n3\tquestion: 改行あり\tz\n"


def test_nested_json_to_jsonl_and_instruction_json(tmp_path, capsys):
    doc = {"items": [{"meta": {"id": "a"}, "q": "質問1", "answers": [{"text": "答え1"}], "tags": ["x", "y"]},
                     {"meta": {"id": "b"}, "q": "質問2", "answers": [{"text": "答え2"}]}]}
    src = tmp_path / "doc.json"
    src.write_text(json.dumps(doc, ensure_ascii=False), encoding="utf-8")
    tpl = _tpl(tmp_path, """
        input: {format: json, records: items}
        fields:
          id: meta.id
          question: q
          answer: answers.0.text
          tags: {path: tags, default: []}
        steps:
          - join: {list: tags, item: "#{item}", sep: " ", as: tag_text}
        output:
          format: jsonl
          record: {id: "{id}", text: "Q: {question} A: {answer} {tag_text}", fixed: 1}
    """)
    out = tmp_path / "out.jsonl"
    assert _run(capsys, "--input", src, "--template", tpl, "--output", out)[0] == 0
    assert [json.loads(line) for line in out.read_text(encoding="utf-8").splitlines()] == [
        {"id": "a", "text": "Q: 質問1 A: 答え1 #x #y", "fixed": 1}, {"id": "b", "text": "Q: 質問2 A: 答え2 ", "fixed": 1}]
    instr = _tpl(tmp_path, """
        input: jsonl
        fields: {id: id, text: text}
        output:
          format: json
          record: {instruction: "要約してください。", input: "{text}", output: "", id: "{id}"}
    """, "instr.yaml")
    out2 = tmp_path / "out.json"
    assert _run(capsys, "--input", out, "--template", instr, "--output", out2)[0] == 0
    rows = json.loads(out2.read_text(encoding="utf-8"))
    assert rows[0] == {"instruction": "要約してください。", "input": "Q: 質問1 A: 答え1 #x #y", "output": "", "id": "a"}


def test_steps_pick_skip_if_limit_when(tmp_path, capsys):
    rows = [{"id": i, "q": f"問{i}", "choices": ["a", "b", "c"], "label": i % 4, "bad": i == 2} for i in range(6)]
    src = tmp_path / "in.jsonl"
    src.write_text("\n".join(json.dumps(r) for r in rows), encoding="utf-8")
    tpl = _tpl(tmp_path, """
        input: jsonl
        fields:
          id: {path: id, type: int}
          question: q
          choices: {path: choices, type: "list[str]"}
          label: label
          bad: bad
        options: {limit: null, drop_bad: true}
        steps:
          - skip_if: {field: bad, matches: "True", reason: marked bad, when: $drop_bad}
          - pick: {list: choices, index: label, as: answer}
          - limit: $limit
        output: {format: tsv, id: "{id}", source: "{question}", target: "{label}: {answer}"}
    """)
    out = tmp_path / "o.tsv"
    rc, said, err = _run(capsys, "--input", src, "--template", tpl, "--output", out)
    assert rc == 0 and "marked bad: 1 (2)" in err and "label 3 out of range 0..2: 1 (3)" in err
    assert [r.split("\t")[0] for r in out.read_text().splitlines()] == ["0", "1", "4", "5"]
    rc, said, err = _run(capsys, "--input", src, "--template", tpl, "--output", out, "--set", "drop_bad=false",
                         "--set", "limit=2")
    assert rc == 0 and [r.split("\t")[0] for r in out.read_text().splitlines()] == ["0", "1"]


def test_a_record_without_a_key_names_the_template_line_and_the_record(tmp_path, capsys):
    src = tmp_path / "in.jsonl"
    src.write_text('{"qid": "1", "question": "q", "answer": "a"}\n{"qid": "2", "question": "q"}\n', encoding="utf-8")
    tpl = _tpl(tmp_path, CSV_TEMPLATE.replace("input: csv", "input: jsonl"))
    out = tmp_path / "out.tsv"
    out.write_text("old\n")
    line = _error(capsys, "--input", src, "--template", tpl, "--output", out)
    assert f"{tpl}, line 6, record {src} line 2 (id '2'): field 'answer': the record has no key 'answer'" in line
    assert out.read_text() == "old\n"  # nothing written
    # with `missing: skip` the record is skipped and counted instead
    tpl2 = _tpl(tmp_path, CSV_TEMPLATE.replace("input: csv", "input: jsonl").replace(
        "answer: answer", "answer: {path: answer, missing: skip}"), "t2.yaml")
    rc, said, err = _run(capsys, "--input", src, "--template", tpl2, "--output", out)
    assert rc == 0 and "written 1" in said and "missing key 'answer': 1 (2)" in err


BAD_TEMPLATES = [  # (change to CSV_TEMPLATE, expected line, expected text)
    (("target: \"{answer}\"", "target: \"{answr}\""), 15, "output.target: unknown field 'answr'"),
    (("source: \"question: {question}\"", "source: \"question: {question\""), 14, "bad format string"),
    (("source: \"question: {question}\"", "source: \"question: {}\""), 14, "placeholder {} must name a field"),
    (("- unique: id", "- uniq: id"), 10, "unknown step 'uniq'"),
    (("reason: empty text}", "reasn: empty text}"), 9, "require.reasn: unknown parameter"),
    (("- unique: id", "- unique: ident"), 10, "unique.field: unknown field 'ident'"),
    (("- unique: id", "- limit: $nope"), 10, "limit.n: unknown option 'nope'"),
    (("- unique: id", "- limit: -1"), 10, "limit.n: must be at least 1"),
    (("input: csv", "input: xml"), 2, "input: expected one of squad, json, jsonl, csv, tsv"),
    (("format: tsv", "format: tsv\n  extra: 1"), 13, "output: unknown key 'extra'"),
    (("  answer: answer", "  answer: answer\n  answer: again"), 7, "duplicate key 'answer'"),
    (("fields:", "fields: ["), 5, "malformed YAML"),
    (("description: CSV quiz → TSV", "descripton: x"), 1, "unknown section 'descripton'"),
]


@pytest.mark.parametrize("change, line, text", BAD_TEMPLATES)
def test_bad_templates_are_one_line_naming_the_template_line(tmp_path, capsys, change, line, text):
    src = tmp_path / "in.csv"
    src.write_text("qid,question,answer\n1,q,a\n", encoding="utf-8")
    body = textwrap.dedent(CSV_TEMPLATE).lstrip("\n")
    assert change[0] in body
    tpl = tmp_path / "tpl.yaml"
    tpl.write_text(body.replace(change[0], change[1]), encoding="utf-8")
    msg = _error(capsys, "--input", src, "--template", tpl, "--output", tmp_path / "o.tsv")
    assert f"{tpl}, line {line}" in msg and text in msg, msg
    assert not (tmp_path / "o.tsv").exists()


def test_usage_errors(tmp_path, capsys, jsquad_valid):
    out = tmp_path / "o.tsv"
    assert "unknown option 'nope'" in _error(capsys, "--input", jsquad_valid, "--template", "jsquad-qa",
                                              "--output", out, "--set", "nope=1")
    assert "give --holdout-output" in _error(capsys, "--input", jsquad_valid, "--template", "jsquad-qa",
                                             "--output", out, "--set", "holdout=0.1")
    assert "holdout step is off" in _error(capsys, "--input", jsquad_valid, "--template", "jsquad-qa",
                                           "--output", out, "--holdout-output", tmp_path / "d.tsv")
    assert "holdout.fraction: must be between 0 and 1" in _error(
        capsys, "--input", jsquad_valid, "--template", "jsquad-qa", "--output", out, "--holdout-output",
        tmp_path / "d.tsv", "--set", "holdout=1.5")
    assert "no shipped template of that name" in _error(capsys, "--input", jsquad_valid, "--template", "nosuch",
                                                        "--output", out)
    assert not out.exists()


def test_tsv_row_breakers_are_skipped_not_written(tmp_path, capsys):
    src = tmp_path / "in.jsonl"
    src.write_text('{"id": "1", "q": "a\\tb", "a": "x"}\n{"id": "2", "q": "ok", "a": "y"}\n', encoding="utf-8")
    tpl = _tpl(tmp_path, """
        input: jsonl
        fields: {id: id, q: q, a: a}
        output: {format: tsv, id: "{id}", source: "{q}", target: "{a}"}
    """)
    out = tmp_path / "o.tsv"
    rc, said, err = _run(capsys, "--input", src, "--template", tpl, "--output", out)
    assert rc == 0 and out.read_text() == "2\tok\ty\n" and "a tab or line break in the TSV row" in err


def test_every_shipped_template_loads_and_the_dispatcher_knows_prepare(capsys):
    shipped = prepare_cli.shipped_templates()
    assert {"jsquad-qa", "jsquad-aqg", "jsquad-aqg_hl", "jcommonsenseqa-train", "jcommonsenseqa-eval",
            "jaqket-train", "jaqket-eval", "korquad", "korquad-context"} <= set(shipped)
    for path in shipped.values():
        assert load_template(path).description
    with pytest.raises(SystemExit) as e:
        cli.main(["prepare", "--help"])
    assert e.value.code == 0 and "jsquad-aqg_hl" in capsys.readouterr().out
