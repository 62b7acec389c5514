"""The shipped templates (configs/templates/) give byte-identical files to the prepare_* scripts, on the real data.

Every task and option of prepare_jsquad.py, prepare_quiz.py and prepare_korquad.py is run both ways: the files must be
equal byte for byte and the printed summaries (written / skipped counts, notes) equal once the paths are aligned.
JAQKET is not in the data folder: a synthetic file in its layout is used (as tests/unit/data/test_quiz.py does).
"""

import json
import random

import pytest

from qgen.cli import prepare as prepare_cli
from qgen.cli import prepare_jsquad, prepare_korquad, prepare_quiz
from qgen.data import jsquad, quiz
from qgen.data.squad import read_squad


def _both(tmp_path, capsys, script_main, script_args, template, sets=(), inputs=(), outputs=("out",)):
    """Run the script and the template into a/ and b/; return the two summaries and the output paths."""
    a, b = tmp_path / "script", tmp_path / "template"
    a.mkdir(parents=True, exist_ok=True)
    b.mkdir(parents=True, exist_ok=True)
    flag = {"out": "--output", "dev": "--holdout-output"}
    sargs = [*script_args]
    targs = ["--input", *map(str, inputs), "--template", template]
    for name in outputs:
        sargs += [flag[name], str(a / name)]
        targs += [flag[name], str(b / name)]
    for s in sets:
        targs += ["--set", s]
    assert script_main(sargs) == 0
    said_a = capsys.readouterr()
    assert prepare_cli.main(targs) == 0
    said_b = capsys.readouterr()
    for name in outputs:
        assert (a / name).read_bytes() == (b / name).read_bytes(), name
    assert said_a.out.replace(str(a), "D") == said_b.out.replace(str(b), "D")
    return said_a.out, [a / name for name in outputs]


JSQUAD_CASES = [  # (task, script flags, template options, outputs)
    ("qa", [], [], ("out",)),
    ("aqg", [], [], ("out",)),
    ("aqg_hl", [], [], ("out",)),
    ("aqg_hl", ["--holdout", "0.1", "--seed", "3", "--answer-in-body", "--context-window", "sentence",
                "--neighbours", "1", "--limit", "3000"],
     ["holdout=0.1", "seed=3", "answer_in_body=true", "context_window=sentence", "neighbours=1", "limit=3000"],
     ("out", "dev")),
    ("aqg", ["--holdout", "0.2", "--answer-in-body"], ["holdout=0.2", "answer_in_body=true"], ("out", "dev")),
    ("qa", ["--context-window", "sentence", "--limit", "1000"], ["context_window=sentence", "limit=1000"], ("out",)),
]


@pytest.mark.parametrize("task, flags, sets, outputs", JSQUAD_CASES)
def test_jsquad_templates(tmp_path, capsys, jsquad_valid, task, flags, sets, outputs):
    said, paths = _both(tmp_path, capsys, prepare_jsquad.main, ["--input", str(jsquad_valid), "--task", task, *flags],
                        f"jsquad-{task}", sets, [jsquad_valid], outputs)
    rows = sum(len(p.read_text(encoding="utf-8").splitlines()) for p in paths)
    assert rows == {"3000": 3000, "1000": 1000}.get(next((s[6:] for s in sets if s.startswith("limit=")), ""), 4442)
    assert "skipped 0" in said


def test_jsquad_template_korean_and_shards(tmp_path, capsys, korquad_dev, jaquad_dir):
    # KorQuAD through the JSQuAD converter with --lang ko; JaQuAD's 4 dev shards as a directory input
    _both(tmp_path / "ko", capsys, prepare_jsquad.main, ["--input", str(korquad_dev), "--task", "aqg", "--lang", "ko"],
          "jsquad-aqg", ["lang=ko"], [korquad_dev])
    said, (out,) = _both(tmp_path / "ja", capsys, prepare_jsquad.main,
                         ["--input", str(jaquad_dir / "dev"), "--task", "aqg_hl", "--context-window", "sentence"],
                         "jsquad-aqg_hl", ["context_window=sentence"], [jaquad_dir / "dev"])
    assert len(out.read_text(encoding="utf-8").splitlines()) == 3939


def test_jsquad_template_skips_like_the_script(tmp_path, capsys):
    # the skip rules: control characters in an id, text empty after normalisation, a context already holding <hl>
    ctx = "タイトル [SEP] 山梨県の県庁所在地は甲府市です。"
    ans = [{"text": "甲府市", "answer_start": ctx.find("甲府市")}]
    qas = [{"id": "ok", "question": "県庁所在地は?", "answers": ans},
           {"id": "bad\u2028id", "question": "県庁所在地は?", "answers": ans},
           {"id": "blank", "question": "\u3000 ", "answers": ans}]
    hl = {"context": "x <HL> y 甲府市", "qas": [{"id": "hl", "question": "q", "answers": [{"text": "甲府市",
                                                                                          "answer_start": 9}]}]}
    src = tmp_path / "in.json"
    src.write_text(json.dumps({"data": [{"title": "t", "paragraphs": [{"context": ctx, "qas": qas}, hl]}]},
                              ensure_ascii=False), encoding="utf-8")
    for task in jsquad.TASKS:
        said, _ = _both(tmp_path / task, capsys, prepare_jsquad.main, ["--input", str(src), "--task", task],
                        f"jsquad-{task}", [], [src])
        assert f"skipped {2 if task != 'aqg_hl' else 3}" in said


@pytest.mark.parametrize("style", quiz.STYLES)
def test_jcommonsenseqa_templates(tmp_path, capsys, jcqa_train, jcqa_valid, style):
    fmt = ["--format", "jcommonsenseqa", "--style", style]
    _, (out,) = _both(tmp_path / "t", capsys, prepare_quiz.main, ["--input", str(jcqa_train), *fmt],
                      f"jcommonsenseqa-{style}", [], [jcqa_train])
    assert len(json.loads(out.read_text(encoding="utf-8"))) == 8939
    _both(tmp_path / "v", capsys, prepare_quiz.main, ["--input", str(jcqa_valid), *fmt], f"jcommonsenseqa-{style}", [],
          [jcqa_valid])
    _, (out,) = _both(tmp_path / "n", capsys, prepare_quiz.main, ["--input", str(jcqa_valid), *fmt, "--no-normalize",
                                                          "--limit", "100"],
                      f"jcommonsenseqa-{style}", ["normalize=false", "limit=100"], [jcqa_valid])
    assert len(json.loads(out.read_text(encoding="utf-8"))) == 100


def test_quiz_template_file_is_editing_the_template(tmp_path, capsys, jcqa_valid):
    # prepare_quiz --template-file overrides template text; with a template the same change is an edit of its strings
    header = "次の問題に{labels}のどれかで答えよ。"
    override = tmp_path / "override.json"
    override.write_text(json.dumps({"header": header}, ensure_ascii=False), encoding="utf-8")
    edited = tmp_path / "edited.yaml"
    text = (prepare_cli.TEMPLATES_DIR / "jcommonsenseqa-train.yaml").read_text(encoding="utf-8")
    assert quiz.QuizTemplate.header in text
    edited.write_text(text.replace(quiz.QuizTemplate.header, header), encoding="utf-8")
    _both(tmp_path, capsys, prepare_quiz.main, ["--input", str(jcqa_valid), "--format", "jcommonsenseqa", "--style", "train",
                                        "--template-file", str(override), "--limit", "50"],
          str(edited), ["limit=50"], [jcqa_valid])


def _jaqket(path, n=60):
    """JAQKET-layout records with the awkward cases: repeated and blank candidates, line breaks, too few distinct
    candidates, a blank qid, a repeated qid."""
    rng = random.Random(1)
    pool = [f"候補{i}" for i in range(100)]
    recs = []
    for i in range(n):
        answer = rng.choice(pool)
        cands = rng.sample(pool, 19) + [answer]
        cands[3] = cands[4]  # a repeated candidate
        cands[5] = " "
        recs.append({"qid": f"QA{i:03d}", "question": f"問題{i}は\n何?", "answer_entity": answer,
                     "answer_candidates": cands})
    recs[7]["answer_candidates"] = [recs[7]["answer_entity"], "a", "a", "b"]  # too few distinct
    recs[8]["qid"] = "  "
    recs[9]["qid"] = recs[10]["qid"]
    path.write_text("\n".join(json.dumps(r, ensure_ascii=False) for r in recs) + "\n", encoding="utf-8")
    return path


@pytest.mark.parametrize("style", quiz.STYLES)
def test_jaqket_templates(tmp_path, capsys, style):
    src = _jaqket(tmp_path / "jaqket.jsonl")
    fmt = ["--format", "jaqket", "--style", style]
    said, (out,) = _both(tmp_path / "d", capsys, prepare_quiz.main, ["--input", str(src), *fmt], f"jaqket-{style}", [], [src])
    assert len(json.loads(out.read_text(encoding="utf-8"))) == 57 and "skipped 3" in said
    _both(tmp_path / "o", capsys, prepare_quiz.main, ["--input", str(src), *fmt, "--num-choices", "4", "--seed", "7",
                                              "--no-normalize", "--limit", "20"],
          f"jaqket-{style}", ["num_choices=4", "seed=7", "normalize=false", "limit=20"], [src])


@pytest.mark.parametrize("context", [False, True])
def test_korquad_templates(tmp_path, capsys, korquad_dev, context):
    name = "korquad-context" if context else "korquad"
    flag = ["--with-context"] if context else []
    _, (out,) = _both(tmp_path / "d", capsys, prepare_korquad.main, ["--input", str(korquad_dev), *flag], name, [],
                      [korquad_dev])
    assert len(out.read_text(encoding="utf-8").splitlines()) == 5774
    # paraphrases keyed by question (spacing differs) and by id, a repeat, an unmatched key; with --limit and --lang
    questions, _ = read_squad(korquad_dev)
    para = {questions[0].question + "  ": ["다른 질문 하나?", "다른 질문 하나?", questions[0].question],
            questions[5].id: ["바꾼 질문?"], "없는 질문": ["x"]}
    pfile = tmp_path / "para.json"
    pfile.write_text(json.dumps(para, ensure_ascii=False), encoding="utf-8")
    said, (out,) = _both(tmp_path / "p", capsys, prepare_korquad.main,
                         ["--input", str(korquad_dev), *flag, "--paraphrases", str(pfile), "--limit", "300",
                          "--lang", "ja"],
                         name, [f"paraphrases={pfile}", "limit=300", "lang=ja"], [korquad_dev])
    assert len(out.read_text(encoding="utf-8").splitlines()) == 302
    assert "2 extra examples from 2 paraphrase keys; 1 paraphrase keys matched no question" in said
