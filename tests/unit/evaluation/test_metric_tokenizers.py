"""BLEU and ROUGE under each word segmentation (ja-mecab, char, Sudachi A/B/C), checked against hand counts."""

import json

import pytest
from sacrebleu.metrics import BLEU

from qgen.cli.eval import main as eval_main
from qgen.evaluation import metrics as M
from qgen.evaluation.segmentation import TOKENIZERS, words

# Sudachi splits the compound 選挙管理委員会 into 選挙/管理/委員/会 in mode A and keeps it whole in mode C
PRED, REF = "選挙の管理委員会", "選挙管理委員会"


def test_a_and_c_score_a_compound_differently():
    assert words(PRED, "sudachi-A") == ["選挙", "の", "管理", "委員", "会"]
    assert words(REF, "sudachi-A") == ["選挙", "管理", "委員", "会"]
    assert words(REF, "sudachi-C") == ["選挙管理委員会"]
    # A: 4 shared unigrams, precision 4/5, recall 4/4 -> F = 8/9; C: no shared unit at all
    assert M.rouge([PRED], [REF], tokenize="sudachi-A")["rouge1"] == pytest.approx(8 / 9)
    assert M.rouge([PRED], [REF], tokenize="sudachi-C")["rouge1"] == 0.0
    assert M.sentence_bleu(PRED, REF, tokenize="sudachi-A") > M.sentence_bleu(PRED, REF, tokenize="sudachi-C")


def test_sudachi_bleu_is_sacrebleu_on_the_segmented_text(jsquad_valid):
    from qgen.data.squad import read_squad

    questions, _ = read_squad(jsquad_valid)
    refs = [q.question for q in questions[:40]]
    preds = [q.question[: len(q.question) * 2 // 3] + "か?" for q in questions[:40]]
    for name in ("sudachi-A", "sudachi-B", "sudachi-C"):
        score, signature = M.bleu_with_signature(preds, refs, tokenize=name)
        expected = BLEU(tokenize="none").corpus_score([" ".join(words(p, name)) for p in preds],
                                                      [[" ".join(words(r, name)) for r in refs]]).score
        assert score == pytest.approx(expected, abs=1e-9)  # the same arithmetic on the same tokens
        assert f"tok:{name}-" in signature and "tok:none" not in signature and "-core-" in signature
    # the default is unchanged: sacrebleu's own ja-mecab (IPAdic); char is sacrebleu's char
    assert "tok:ja-mecab" in M.bleu_with_signature(preds, refs)[1]
    assert M.bleu(preds, refs, tokenize="char") == BLEU(tokenize="char").corpus_score(preds, [refs]).score


def test_char_rouge_by_hand():
    # characters, punctuation dropped: 今日は晴れ vs 今日は雨 -> 3 shared of 5 and 4: F1 = 2*3/(5+4)
    assert M.rouge(["今日は晴れ。"], ["今日は雨"], tokenize="char")["rouge1"] == pytest.approx(6 / 9)


def test_defaults_and_signatures():
    assert M.rouge([PRED], [REF]) == M.rouge([PRED], [REF], tokenize="ja-mecab")
    for name in TOKENIZERS:
        assert f"tok:{name}" in M.rouge_signature(name)
    assert "fugashi" in M.rouge_signature() and "SudachiDict-core" in M.rouge_signature("sudachi-B")
    with pytest.raises(ValueError, match="sudachi-A"):  # the message lists the choices
        M.rouge([PRED], [REF], tokenize="sudachi")


def test_qgen_eval_tokenize(tmp_path, capsys):
    preds = tmp_path / "p.jsonl"
    preds.write_text(json.dumps({"id": "1", "source": "x", "prediction": PRED, "target": REF}, ensure_ascii=False)
                     + "\n", encoding="utf-8")
    assert eval_main(["--predictions", str(preds), "--no-hallucination", "--tokenize", "sudachi-C"]) == 0
    printed = capsys.readouterr().out
    saved = json.loads((tmp_path / "p.metrics.json").read_text(encoding="utf-8"))
    assert saved["rouge1"] == 0.0 and "tok:sudachi-C (SudachiPy" in saved["rouge_signature"]
    assert "tok:sudachi-C-" in saved["bleu_signature"]
    rouge_line = next(line for line in printed.splitlines() if line.startswith("rouge1"))
    assert "sudachi-C" in rouge_line  # the segmenter is printed beside the figure
    assert "sudachi-C" in (tmp_path / "p.report.html").read_text(encoding="utf-8")
    with pytest.raises(SystemExit):
        eval_main(["--predictions", str(preds), "--tokenize", "sudachi"])
    assert "invalid choice" in capsys.readouterr().err
