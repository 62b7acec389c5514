"""qgen.evaluation.lmqg_protocol (QG-Bench's figures) and qgen.evaluation.qa_metrics (the field's three JSQuAD F1s).

Expected values are derived by hand from each protocol's definition (written beside them); the comparison with the
reference implementations themselves (lmqg's code, the Stability-AI harness, llm-jp-eval's metric) on real predictions
is bench/protocol_compare.py, whose figures are in bench/README.md.
"""

import json
import os

import pytest

from qgen.cli.eval import main
from qgen.evaluation import lmqg_protocol as L
from qgen.evaluation import qa_metrics as Q
from qgen.evaluation.records import evaluate_records, format_metrics


def test_nqg_normalise_follows_ptb_conventions():
    # brackets become -lrb- / -rrb-, then the rule "a space before each '-' followed by two characters" (applied left
    # to right without overlaps) splits them again as QG-Bench's own normalisation does
    assert L.nqg_normalise("What's (A)?") == "what 's -lrb -a-rrb - ?"
    assert L.nqg_normalise("Wait...") == "wait ..."
    assert L.nqg_normalise('He said "yes", ok') == "he said `` yes '' , ok"
    assert L.nqg_normalise("東京タワー？") == "東京タワー？"  # full-width marks are left alone


def test_tokenize_is_spacy_sudachi_a():
    # split mode A cuts the compound into its short units (mode C would keep 選挙管理委員会 whole)
    assert L.tokenize(" 選挙管理委員会は何？ ") == "選挙 管理 委員 会 は 何 ？"


def test_answer_sentence_is_the_sentence_holding_the_mark():
    source = "東京は首都である。<hl> 東京タワー <hl>は1958年に完成した。大阪は違う。"
    assert L.answer_sentence(source) == "<hl> 東京タワー <hl>は1958年に完成した。"
    assert L.answer_sentence("首都は<hl>東京<hl>") == "首都は<hl>東京<hl>"
    assert L.answer_sentence("印のない文。二つ目。") == "印のない文。二つ目。"


def test_identical_questions_score_100_and_grouping_keeps_the_first_prediction():
    refs = ["東京タワーは何年に完成しましたか？", "東京タワーの高さは？", "首都はどこですか？"]
    sentences = ["東京タワーは1958年に完成した。", "東京タワーは1958年に完成した。", "首都は東京である。"]
    perfect = L.lmqg_scores([refs[0], "関係のない質問", refs[2]], refs, sentences, meteor=False)
    assert perfect["groups"] == 2
    # group 1: first prediction = refs[0], a reference of the group -> exact; group 2 exact: every BLEU is 100
    assert perfect["bleu4"] == pytest.approx(100.0) and perfect["rougeL"] == pytest.approx(100.0)
    assert perfect["meteor"] is None and "meteor:none" in perfect["signature"]
    # the second prediction of a group is never scored; the first one is
    assert L.lmqg_scores([refs[0], "全く別の文", refs[2]], refs, sentences, meteor=False)["bleu4"] == perfect["bleu4"]
    assert L.lmqg_scores(["全く別の文", refs[1], refs[2]], refs, sentences, meteor=False)["bleu4"] < 100


def test_rouge_l_is_the_coco_lcs_f_measure():
    # tokens a b c d vs a c d e: LCS 3, P = R = 3/4, F_beta = (1 + 1.2^2) P R / (R + 1.2^2 P) = 3/4
    got = L.lmqg_scores(["a b c d"], ["a c d e"], ["s"], meteor=False)
    assert got["rougeL"] == pytest.approx(75.0)
    # unigram precision 3/4, brevity penalty 1 (equal length): BLEU-1 = 75
    assert got["bleu1"] == pytest.approx(75.0)


@pytest.mark.slow
@pytest.mark.skipif(not L.java_available() and not os.environ.get("CI"),
                    reason="METEOR 1.5 is a Java program; the lmqg figures say n/a without it (CI has Java: runs there)")
def test_meteor_runs_the_jar():
    got = L.lmqg_scores(["東京 タワー は いつ"], ["東京 タワー は いつ"], ["s"], meteor=True)
    assert got["meteor"] == pytest.approx(100.0, abs=1.0)  # METEOR's fragmentation penalty keeps a match below 100
    worse = L.lmqg_scores(["大阪 は どこ"], ["東京 タワー は いつ"], ["s"], meteor=True)["meteor"]
    assert worse < got["meteor"]


def test_qa_metrics_differ_as_the_protocols_define():
    preds, refs = ["東京タワー", "1958年です", "回答: 大阪"], [["東京タワー"], ["1958年"], "大阪"]
    em, f1 = Q.qa_scores(preds, refs, "jglue")  # characters: 1958年です vs 1958年 -> P 5/7, R 1 -> 5/6
    assert em == [1.0, 0.0, 0.0] and f1[1] == pytest.approx(5 / 6)
    em, f1 = Q.qa_scores(preds, refs, "harness")  # MeCab words 1958 / 年 / です vs 1958 / 年 -> P 2/3, R 1 -> 0.8
    assert em == [1.0, 0.0, 0.0] and f1[1] == pytest.approx(0.8)
    # llm-jp-eval strips before removing 回答:, so " 大阪" is left: not an exact match, but the token-sort ratio
    # ignores the space (1.0); 1958年です vs 1958年: Indel similarity 2*5/12 = 83.3% -> 83
    em, f1 = Q.qa_scores(preds, refs, "llm-jp-eval")
    assert em == [1.0, 0.0, 0.0] and f1 == [1.0, 0.83, 1.0]


def test_harness_drops_punctuation_and_normalises_width():
    # neologdn turns full-width digits half-width; the 。 token is dropped before counting
    assert Q.qa_scores(["１９５８年。"], ["1958年"], "harness")[1] == [1.0]


def test_llm_jp_eval_uses_the_first_reference_and_the_first_paragraph():
    assert Q.qa_scores(["大阪"], [["東京", "大阪"]], "llm-jp-eval")[0] == [0.0]
    assert Q.qa_scores(["大阪\n\n説明"], ["大阪"], "llm-jp-eval") == ([1.0], [1.0])
    with pytest.raises(ValueError, match="unknown QA metric"):
        Q.qa_scores(["a"], ["a"], "squad2")


def test_records_name_the_protocols():
    records = [{"id": "1", "source": "首都は<hl>東京<hl>である。", "prediction": "首都はどこ？", "target": "首都はどこ？"}]
    got = evaluate_records(records, hallucination=False, protocol="lmqg", qa_metric="harness")["metrics"]
    assert got["qa_metric"].startswith("qa:harness")
    assert got["lmqg_bleu4"] == pytest.approx(100.0) and got["lmqg_signature"].startswith("protocol:lmqg")
    printed = format_metrics(got)
    assert "protocol:lmqg|tok:spacy-ja(sudachi-A)" in printed and "qa:harness" in printed
    with pytest.raises(ValueError, match="unknown protocol"):
        evaluate_records(records, hallucination=False, protocol="squad")


def test_eval_cli_protocol_and_group_field(tmp_path, capsys):
    preds = tmp_path / "p.jsonl"
    rows = [
        {"id": "1", "source": "x", "sentence": "同じ文。", "prediction": "首都はどこ？", "target": "首都はどこ？"},
        {"id": "2", "source": "y", "sentence": "同じ文。", "prediction": "別の質問", "target": "首都は？"},
    ]
    preds.write_text("".join(json.dumps(r, ensure_ascii=False) + "\n" for r in rows), encoding="utf-8")
    assert main(["--predictions", str(preds), "--no-hallucination", "--protocol", "lmqg", "--group-field", "sentence",
                 "--qa-metric", "llm-jp-eval"]) == 0
    saved = json.loads((tmp_path / "p.metrics.json").read_text(encoding="utf-8"))
    assert saved["lmqg_groups"] == 1 and saved["scales"]["lmqg_bleu4"] == "0-100"
    assert saved["qa_metric"].startswith("qa:llm-jp-eval")
    assert "lmqg_bleu4" in capsys.readouterr().out
