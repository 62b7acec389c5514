"""qgen.evaluation.metrics against hand-worked values and independent computations (sacrebleu itself, JSQuAD gold answers)."""

import json
from pathlib import Path

import pytest
import sacrebleu

from qgen.evaluation import metrics as M


def test_normalize_answer_follows_jglue_order():
    assert M.normalize_answer("Tokyo  Tower。") == "tokyo tower"  # lower, strip 。, collapse spaces
    assert M.normalize_answer("答え。。") == "答え"  # rstrip removes every trailing 。
    assert M.normalize_answer("答え。 ") == "答え。"  # 。 is stripped before the whitespace: a trailing space keeps it
    assert M.normalize_answer("「東京」、") == "「東京」、"  # punctuation is kept (JGLUE disabled remove_punc)
    assert M.normalize_answer("ＡＢＣ") == "ａｂｃ"  # no NFKC, only str.lower()


# Hand-worked JSQuAD EM / character F1 (F1 = 2PR/(P+R) over character multisets of the normalised strings):
CASES = [
    # pred, refs, EM, F1
    ("東京タワー", "東京タワー。", 1, 1.0),  # trailing 。 stripped
    ("東京", "東京タワー", 0, 4 / 7),  # common 2 chars: P = 2/2, R = 2/5 -> 2*0.4/1.4 = 4/7
    ("1958年", ["昭和33年", "1958年"], 1, 1.0),  # best reference counts
    ("大阪", "東京", 0, 0.0),  # no common character
    ("New York", "new york", 1, 1.0),  # lower-cased
    ("ab c", "abc", 0, 6 / 7),  # the space is a character: P = 3/4, R = 3/3 -> 1.5/1.75 = 6/7
]


@pytest.mark.parametrize(("pred", "refs", "em", "f1"), CASES)
def test_em_f1_hand_checked(pred, refs, em, f1):
    assert M.exact_match_scores([pred], [refs]) == [em]
    assert M.char_f1_scores([pred], [refs]) == [pytest.approx(f1)]


def test_em_f1_corpus_means():
    preds, refs = [c[0] for c in CASES], [c[1] for c in CASES]
    assert M.exact_match(preds, refs) == pytest.approx(3 / 6)
    assert M.char_f1(preds, refs) == pytest.approx((1 + 4 / 7 + 1 + 0 + 1 + 6 / 7) / 6)  # = 31/42


def test_em_f1_empty_strings():
    # SQuAD rule: empty vs empty is a match; references that normalise to "" are dropped unless all are empty
    assert M.exact_match([""], [""]) == 1.0 and M.char_f1([""], ["。"]) == 1.0
    assert M.exact_match([""], ["東京"]) == 0.0 and M.char_f1(["東京"], [""]) == 0.0
    assert M.exact_match([""], [["", "東京"]]) == 0.0  # "" reference dropped: only 東京 counts
    assert M.exact_match(["東京"], [["", "東京"]]) == 1.0


@pytest.mark.parametrize(
    "fn", [M.exact_match, M.char_f1, M.bleu, M.rouge, M.exact_match_scores, M.char_f1_scores, M.rouge_scores]
)
def test_bad_inputs_raise(fn):
    with pytest.raises(ValueError, match="no predictions"):
        fn([], [])
    with pytest.raises(ValueError, match="2 predictions but 1 references"):
        fn(["a", "b"], ["a"])
    with pytest.raises(ValueError, match="reference 0 is an empty list"):
        fn(["a"], [[]])
    with pytest.raises(TypeError, match="prediction 0 is NoneType"):
        fn([None], ["a"])
    with pytest.raises(TypeError, match="not a single string"):
        fn("abc", "abc")


@pytest.fixture(scope="module")
def jsquad(jsquad_valid):
    data = json.loads(jsquad_valid.read_text(encoding="utf-8"))["data"]
    return [q for a in data for p in a["paragraphs"] for q in p["qas"]]


def test_em_on_jsquad_gold_answers(jsquad):
    answers = [[a["text"] for a in q["answers"]] for q in jsquad]
    # a gold answer with a 。 appended is an exact match under JGLUE's normalisation
    assert M.exact_match([a[0] + "。" for a in answers], answers) == 1.0
    # dropping the last character (before any 。) of a single-valued gold answer is never an exact match
    single = [a for a in answers if len({x.rstrip("。") for x in a}) == 1 and len(a[0].rstrip("。")) > 1]
    clipped, refs = [a[0].rstrip("。")[:-1] for a in single], single
    assert M.exact_match(clipped, refs) == 0.0
    assert 0.8 < M.char_f1(clipped, refs) < 1.0


def _perturb(q: str, i: int) -> str:
    return q[: len(q) // 2] if i % 3 == 0 else q.replace("か。", "のか。") if i % 3 == 1 else q


@pytest.mark.parametrize("tokenize", ["ja-mecab", "char"])
def test_bleu_equals_sacrebleu(jsquad, tokenize):
    refs = [q["question"] for q in jsquad[:1000]]
    preds = [_perturb(q, i) for i, q in enumerate(refs)]
    ours, signature = M.bleu_with_signature(preds, refs, tokenize=tokenize)
    theirs = sacrebleu.corpus_bleu(preds, [refs], tokenize=tokenize).score
    assert ours == pytest.approx(theirs, abs=1e-9)
    assert 20 < ours < 100
    assert signature.startswith("nrefs:1|") and f"tok:{tokenize}" in signature
    assert M.bleu(refs, refs, tokenize=tokenize) == pytest.approx(100.0)


def test_bleu_several_references():
    # a varying number of references: the second stream has a gap (None), as sacrebleu allows
    preds = ["今日はいい天気です", "明日は雨が降ります"]
    refs = [["今日は悪い天気です", "今日はいい天気です"], ["明日は雨が降ります"]]
    assert M.bleu(preds, refs) == pytest.approx(100.0)
    assert M.bleu_with_signature(preds, refs)[1].startswith("nrefs:var|")


def test_rouge_on_japanese():
    from rouge_score import rouge_scorer

    same, other = "東京タワーは何メートルですか", "富士山の標高を答えよ"
    # rouge-score's default tokenizer keeps only [a-z0-9]: Japanese scores 0 even against itself
    default = rouge_scorer.RougeScorer(["rouge1"]).score(same, same)["rouge1"].fmeasure
    assert default == 0.0
    assert M.rouge([same], [same]) == {"rouge1": 1.0, "rouge2": 1.0, "rougeL": 1.0}
    assert M.rouge([same], [other]) == {"rouge1": 0.0, "rouge2": 0.0, "rougeL": 0.0}


def test_rouge_hand_checked():
    assert M.MecabTokenizer().tokenize("今日はいい天気だ。") == ["今日", "は", "いい", "天気", "だ"]  # 。 dropped
    # pred 今日/は/天気/だ vs ref 今日/は/いい/天気/だ: unigrams P = 4/4, R = 4/5 -> F = 8/9;
    # bigrams {今日は, は天気, 天気だ} vs {今日は, はいい, いい天気, 天気だ}: 2 common, P = 2/3, R = 2/4 -> F = 4/7;
    # LCS = 4 -> same as unigrams
    r = M.rouge(["今日は天気だ"], ["今日はいい天気だ"])
    assert r == pytest.approx({"rouge1": 8 / 9, "rouge2": 4 / 7, "rougeL": 8 / 9})
    # best of several references; mean over examples
    assert M.rouge(["今日は天気だ", "雨"], [["晴れ", "今日は天気だ"], "雪"])["rouge1"] == pytest.approx(0.5)
    assert M.rouge([""], ["今日"])["rouge1"] == 0.0  # rouge-score: 0 when a side has no tokens


def test_import_is_light():
    import subprocess
    import sys

    code = "import sys, qgen.evaluation.metrics, qgen.evaluation.hallucination, qgen.evaluation.report; print(sorted({'torch','transformers','spacy','sacrebleu'} & set(sys.modules)))"
    out = subprocess.run(
        [sys.executable, "-c", code],
        capture_output=True,
        text=True,
        check=True,
        cwd=Path(__file__).resolve().parents[3],
    ).stdout
    assert out.strip() == "[]"


def test_hallucination_is_exposed_lazily():
    """`qgen.evaluation.metrics.hallucination*` are qgen.evaluation.hallucination's, and `import qgen.evaluation.metrics` alone loads neither it nor
    spaCy (a notebook importing the metrics stays light)."""
    import subprocess
    import sys

    code = (
        "import sys, qgen.evaluation.metrics as M\n"
        "print(sorted({'qgen.evaluation.hallucination', 'spacy', 'ginza'} & set(sys.modules)))\n"
        "from qgen.evaluation.metrics import hallucination, hallucination_rate\n"
        "import qgen.evaluation.hallucination as H\n"
        "print(hallucination is H.hallucination and hallucination_rate is H.hallucination_rate, 'spacy' in sys.modules)\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True,
                         cwd=Path(__file__).resolve().parents[3]).stdout
    assert out.splitlines() == ["[]", "True False"]
    assert {"hallucination", "hallucination_rate", "sentence_bleu"} <= set(M.__all__)
    with pytest.raises(AttributeError, match="no attribute 'nope'"):
        M.nope  # noqa: B018


def test_sentence_bleu_scores_short_texts():
    # corpus BLEU needs 4-grams: one 3-token sentence scores 0 even against itself; sentence BLEU uses the orders it has
    assert M.bleu(["今日は晴れ"], ["今日は晴れ"]) == 0.0
    assert M.sentence_bleu("今日は晴れ", "今日は晴れ") == pytest.approx(100.0)
    assert M.sentence_bleu("今日は雨", "今日は晴れ") == pytest.approx(
        sacrebleu.sentence_bleu("今日 は 雨", ["今日 は 晴れ"], tokenize="none").score)  # MeCab: 今日/は/雨
    assert 0 < M.sentence_bleu("今日は雨", "今日は晴れ") < 100
    # the best of several references counts, as in sacrebleu; empty prediction scores 0
    assert M.sentence_bleu("明日は雨", ["今日は晴れ", "明日は雨"]) == pytest.approx(100.0)
    assert M.sentence_bleu("", "今日は晴れ") == 0.0
    with pytest.raises(TypeError, match="prediction 0"):
        M.sentence_bleu(None, "a")


def test_scales_label_bleu_apart_from_the_0_1_metrics():
    from qgen.evaluation.records import format_metrics

    assert M.SCALES["bleu"] == "0-100"
    assert {v for k, v in M.SCALES.items() if "bleu" not in k and not k.startswith("lmqg_")} == {"0-1"}
    assert {v for k, v in M.SCALES.items() if k.startswith("lmqg_")} == {"0-100"}  # QG-Bench prints x100
    text = format_metrics({"n": 2, "bleu": 18.2, "bleu_signature": "nrefs:1|tok:ja-mecab", "rougeL": 0.412})
    lines = {line.split()[0]: line for line in text.splitlines()}
    assert "18.20  (0-100; nrefs:1|tok:ja-mecab)" in lines["bleu"] and "0.4120  (0-1)" in lines["rougeL"]
    assert lines["n"].split() == ["n", "2"]
