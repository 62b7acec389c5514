"""prepare_korquad on real KorQuAD dev rows (tests/fixtures/): prompt text, --with-context, paraphrase augmentation."""

import json

from qgen.cli import prepare_korquad
from qgen.data.examples import read_examples

PREAMBLE = "Below is an instruction that describes a task. Write a response that appropriately completes the request."
Q0 = "임종석이 여의도 농민 폭력 시위를 주도한 혐의로 지명수배 된 날은?"


def _run(tmp_path, korquad_dev, *extra):
    out = tmp_path / "out.jsonl"
    assert prepare_korquad.main(["--input", str(korquad_dev), "--output", str(out), *extra]) == 0
    return [json.loads(line) for line in out.read_text(encoding="utf-8").splitlines()], out


def test_real_dev_file(tmp_path, capsys, korquad_dev):
    rows, out = _run(tmp_path, korquad_dev)
    assert len(rows) == 58
    assert rows[0] == {"id": "6548850-0-0", "text": f"{PREAMBLE} ### Instruction: {Q0} ### Response: 1989년 2월 15일"}
    assert all(r["text"].startswith(PREAMBLE + " ### Instruction: ") and " ### Response: " in r["text"] for r in rows)
    assert len(read_examples(out)) == 58
    assert "written 58" in capsys.readouterr().out


def test_with_context(tmp_path, capsys, korquad_dev):
    rows, _ = _run(tmp_path, korquad_dev, "--with-context", "--limit", "3")
    assert len(rows) == 3
    text = rows[0]["text"]
    assert text.startswith("Below is an instruction that describes a task, paired with an input that provides further "
                           f"context. Write a response that appropriately completes the request. ### Instruction: {Q0} "
                           "### Input: 1989년 2월 15일 여의도 농민 폭력 시위를 주도한 혐의")
    assert text.endswith(" ### Response: 1989년 2월 15일")
    capsys.readouterr()


def test_paraphrases(tmp_path, capsys, korquad_dev):
    para = {
        Q0.replace(" ", "  ") + "\n": ["임종석이 지명수배된 날짜는?", "임종석이 지명수배된 날짜는?", Q0, "  "],  # fuzzy key
        "6548850-0-1": ["평양축전에 대표로 파견된 인물은 누구?"],  # by id
        "없는 질문": ["아무것"],
    }
    pfile = tmp_path / "para.json"
    pfile.write_text(json.dumps(para, ensure_ascii=False), encoding="utf-8")
    rows, _ = _run(tmp_path, korquad_dev, "--paraphrases", str(pfile), "--limit", "4")
    ids = [r["id"] for r in rows]
    assert ids == ["6548850-0-0", "6548850-0-0-para1", "6548850-0-1", "6548850-0-1-para1", "6548853-0-0", "6548853-0-1"]
    assert rows[1]["text"] == f"{PREAMBLE} ### Instruction: 임종석이 지명수배된 날짜는? ### Response: 1989년 2월 15일"
    assert rows[3]["text"].endswith("### Instruction: 평양축전에 대표로 파견된 인물은 누구? ### Response: 임수경")
    captured = capsys.readouterr()
    assert "paraphrases: 2 extra examples from 2 paraphrase keys; 1 paraphrase keys matched no question" in captured.out
    assert "'없는 질문'" in captured.err
