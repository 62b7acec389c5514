"""Whole-file facts of the real data folder (QGEN_DATA_DIR): the published counts, every row read and converted.

The unit tests (tests/unit/data/) run the same readers on the few dozen rows of tests/fixtures/; here the checks that
need every row of the full files run on them, with the unit tests' own check functions where there is one.
"""

import json

import pytest
from unit.data import test_jsquad as unit_jsquad
from unit.data import test_jsquad_window as unit_window
from unit.data import test_korquad as unit_korquad
from unit.data import test_quiz as unit_quiz
from unit.data import test_squad_jaquad as unit_jaquad

from qgen.cli import prepare_jsquad
from qgen.data import jsquad
from qgen.data.examples import read_tsv
from qgen.data.jsquad import HL, answer_in_body
from qgen.data.squad import read_squad, read_squad_files
from qgen.evaluation import metrics as M


@pytest.fixture(scope="module")
def jsquad_questions(jsquad_valid):
    questions, skips = read_squad(jsquad_valid)
    assert len(questions) == 4442 and len(skips) == 0  # the JSQuAD v1.3 validation split (data README)
    return questions, skips


@pytest.mark.parametrize("task", jsquad.TASKS)
def test_all_jsquad_valid_questions_convert(jsquad_valid, tmp_path, capsys, task):
    out = tmp_path / f"{task}.tsv"
    assert prepare_jsquad.main(["--input", str(jsquad_valid), "--task", task, "--output", str(out)]) == 0
    rows = read_tsv(out)
    assert len(rows) == len({r.id for r in rows}) == 4442
    stdout = capsys.readouterr().out
    assert "written 4442" in stdout and "skipped 0" in stdout
    assert rows[0].id == "a10336p0q0"
    if task == "aqg_hl":
        assert all(r.source.count(HL) == 2 for r in rows)


def test_highlight_on_every_jsquad_row(jsquad_questions):
    unit_jsquad.test_highlight_wraps_exactly_the_normalised_answer_on_every_jsquad_row(jsquad_questions)


def test_answers_in_the_title(jsquad_questions):
    questions, _ = jsquad_questions
    in_title = [q for q in questions if q.answer_start < q.context.index("[SEP]")]
    movable = [q for q in in_title if answer_in_body(q) is not q]
    assert (len(in_title), len(movable)) == (469, 307)  # measured; see report


def test_every_jsquad_answer_stays_inside_its_sentence_window(jsquad_questions):
    unit_window.check_sentence_windows(jsquad_questions[0])


def test_korquad_dev(korquad_dev, tmp_path, capsys):
    questions, skips = read_squad(korquad_dev)
    assert len(questions) == 5774 and len(skips) == 0
    rows, _ = unit_korquad._run(tmp_path, korquad_dev)
    assert len(rows) == 5774 and rows[0]["id"] == "6548850-0-0"
    assert "written 5774" in capsys.readouterr().out


def test_jaquad_dev(jaquad_dir):
    questions, skips = read_squad_files([jaquad_dir / "dev"])
    assert len(questions) == 3939 and len(skips) == 0  # the published dev count
    assert len({q.context for q in questions}) == 1431
    unit_jaquad.check_windows(questions)


@pytest.mark.parametrize("split, count", [("train", 8939), ("valid", 1119)])
def test_jcqa_real_files_both_styles(tmp_path, capsys, jcqa_train, jcqa_valid, split, count):
    unit_quiz.test_jcqa_real_files_both_styles(tmp_path, capsys, jcqa_train, jcqa_valid, split, count)


def test_annotator_agreement_is_near_jglue_human_figures(jsquad_valid):
    # JSQuAD dev has 2-3 answers per question. Scoring each extra annotator's answer against the others is a
    # human-vs-human setting; JGLUE reports human EM 0.871 / F1 0.944. Measured here: EM 0.871, F1 0.941 on 8,411
    # answers. A sanity check of the metric's scale, not a reproduction of JGLUE's protocol: hence the tolerance.
    data = json.loads(jsquad_valid.read_text(encoding="utf-8"))["data"]
    jsquad = [q for a in data for p in a["paragraphs"] for q in p["qas"]]
    preds, refs = [], []
    for k in (1, 2):
        sub = [q for q in jsquad if len(q["answers"]) > k]
        preds += [q["answers"][k]["text"] for q in sub]
        refs += [[a["text"] for j, a in enumerate(q["answers"]) if j != k] for q in sub]
    assert len(preds) == 8411
    assert M.exact_match(preds, refs) == pytest.approx(0.871, abs=0.01)
    assert M.char_f1(preds, refs) == pytest.approx(0.944, abs=0.01)
