"""The span reader (predict.py --answer-spans) with the shipped qgen-small-ja: answers are spans of the paragraph,
scored by the model's own log-likelihoods."""

import json
import math

import pytest
import torch

from qgen.cli.generate import main as generate_main
from qgen.cli.predict import main as predict_main
from qgen.data.jsquad import QA_TEMPLATE, parse_qa_source
from qgen.data.question_window import question_window
from qgen.inference.answer_spans import distance_to_question
from qgen.inference.decoding import SpanSettings
from qgen.inference.loader import load_inference_model
from qgen.inference.span_reader import SpanReader

CONTEXT = ("東大寺は、奈良県奈良市雑司町にある華厳宗の大本山の寺院である。"
           "8世紀に聖武天皇の発願で造立された盧舎那仏像を本尊とする。開山は良弁である。")
QUESTIONS = ["東大寺は何県にありますか?", "東大寺の開山は誰?"]


@pytest.fixture(scope="module")
def im():
    return load_inference_model("qgen-small-ja")


def test_answers_are_spans_of_the_paragraph_the_question_does_not_name(im):
    answers = [SpanReader(im).answer(q, CONTEXT).text for q in QUESTIONS]
    assert answers[0] != answers[1], answers
    for q, a in zip(QUESTIONS, answers):
        assert a and a in CONTEXT and a not in q, (q, a)


def test_scores_are_the_models_summed_log_likelihoods(im):
    """Each term equals -(mean token loss) × tokens from the model's own loss; to 1e-3 because the two sums add the
    same float32 terms in a different order."""
    reader = SpanReader(im, SpanSettings(shortlist=3, question_weight=0.5))
    scored = reader.scored(QUESTIONS[0], CONTEXT)
    assert len(scored) == 3 and all(a.question_logprob is not None for a in scored)
    tok = im.tokenizer
    window = question_window(CONTEXT, QUESTIONS[0], 2)  # the two sentences read (SpanSettings.sentences)
    assert window != CONTEXT
    for a in scored:
        source = tok(QA_TEMPLATE.format(question=QUESTIONS[0], context=window), return_tensors="pt").input_ids
        labels = tok(text_target=a.text, return_tensors="pt").input_ids
        with torch.no_grad():
            loss = im.model(input_ids=source, labels=labels).loss.item()
        assert math.isclose(a.answer_logprob, -loss * labels.shape[1], abs_tol=1e-3), a
        # the default weights: question 0.5, proximity 4, length 6 (the last two in cue_score, recomputed here)
        gap = distance_to_question(window, window.index(a.text), window.index(a.text) + len(a.text), QUESTIONS[0])
        cues = -4 * math.log1p(gap) + 6 * math.log(len(a.text))
        assert math.isclose(a.cue_score, cues, abs_tol=1e-9), a
        assert math.isclose(a.score, a.answer_logprob + 0.5 * a.question_logprob + cues, abs_tol=1e-3)


QA_HEAD_ALONE = SpanSettings(question_weight=0.0, proximity_weight=0.0, length_weight=0.0)


def test_weight_zero_is_the_qa_head_alone_over_every_candidate(im):
    both = SpanReader(im, SpanSettings(shortlist=1000)).scored(QUESTIONS[1], CONTEXT)
    alone = SpanReader(im, QA_HEAD_ALONE).scored(QUESTIONS[1], CONTEXT)
    assert all(a.question_logprob is None and a.cue_score == 0 and a.score == a.answer_logprob for a in alone)
    assert {a.text for a in alone} == {a.text for a in both}  # the shortlist is every candidate here
    best = SpanReader(im, QA_HEAD_ALONE).answer(QUESTIONS[1], CONTEXT)
    assert best.text == max(alone, key=lambda a: a.answer_logprob).text


def test_a_question_asking_for_a_number_gets_a_span_with_one(im):
    question = "盧舎那仏像は何世紀に造立された?"
    typed = {a.text for a in SpanReader(im, SpanSettings(question_weight=0.0)).scored(question, CONTEXT)}
    untyped = {a.text for a in SpanReader(im, SpanSettings(question_weight=0.0, ignore_answer_type=True))
               .scored(question, CONTEXT)}
    assert typed and all(any(c.isdigit() for c in t) for t in typed), typed
    assert typed < untyped  # without the filter the number-free spans are candidates too
    other = {a.text for a in SpanReader(im, SpanSettings(question_weight=0.0)).scored(QUESTIONS[1], CONTEXT)}
    assert other and not any(any(c.isdigit() for c in t) for t in other), other


@pytest.mark.parametrize("bad", [{"sentences": 0}, {"shortlist": 0}, {"max_words": 0},
                                 {"question_weight": -1.0}, {"question_weight": float("nan")},
                                 {"proximity_weight": -1.0}, {"length_weight": float("inf")}])
def test_settings_are_checked(bad):
    with pytest.raises(ValueError):
        SpanSettings(**bad)


def test_parse_qa_source_inverts_the_template():
    assert parse_qa_source(QA_TEMPLATE.format(question="誰?", context=CONTEXT)) == ("誰?", CONTEXT)
    with pytest.raises(ValueError):
        parse_qa_source("東大寺 <hl> 聖武天皇 <hl>")


def test_predict_answer_spans_end_to_end(tmp_path, capsys):
    tsv = tmp_path / "qa.tsv"
    tsv.write_text("".join(f"q{i}\t{QA_TEMPLATE.format(question=q, context=CONTEXT)}\t-\n"
                           for i, q in enumerate(QUESTIONS)), encoding="utf-8")
    out = tmp_path / "pred.jsonl"
    assert predict_main(["--model", "qgen-small-ja", "--input", str(tsv), "--output", str(out), "--answer-spans"]) == 0
    rows = [json.loads(line) for line in out.read_text(encoding="utf-8").splitlines()]
    assert [r["id"] for r in rows] == ["q0", "q1"]
    assert all(r["prediction"] in CONTEXT for r in rows)
    assert str(out) in capsys.readouterr().err


def test_predict_answer_spans_names_a_source_that_is_not_qa(tmp_path, capsys):
    tsv = tmp_path / "aqg.tsv"
    tsv.write_text(f"q0\t{QA_TEMPLATE.format(question='誰?', context=CONTEXT)}\t-\nq1\t東大寺 <hl> 良弁 <hl>\t-\n",
                   encoding="utf-8")
    code = predict_main(["--model", "qgen-small-ja", "--input", str(tsv), "--output", str(tmp_path / "p.jsonl"),
                         "--answer-spans"])
    err = capsys.readouterr().err
    assert code == 2 and "error:" in err and "record 2" in err and "source" in err, err
    assert not (tmp_path / "p.jsonl").exists()
    code = predict_main(["--model", "qgen-small-ja", "--input", str(tsv), "--output", str(tmp_path / "p.jsonl"),
                         "--answer-spans", "--question-weight", "-1"])
    assert code == 2 and "--question-weight" in capsys.readouterr().err


def test_generate_answer_spans_prints_a_span_of_the_context(capsys):
    assert generate_main(["--model", "qgen-small-ja", "--question", QUESTIONS[1], "--context", CONTEXT,
                          "--answer-spans"]) == 0
    answer = capsys.readouterr().out.strip()
    assert answer and answer in CONTEXT and answer not in QUESTIONS[1]
    assert generate_main(["--model", "qgen-small-ja", "--context", CONTEXT, "--answer-spans"]) == 2
    assert "--question" in capsys.readouterr().err


def test_a_choice_question_is_answered_with_one_of_its_options(im):
    context = "英国の航空局は1983年に型式証明を交付した。米国の航空局は1982年に交付した。"
    question = "米国と英国のうち、型式証明の交付がより遅いのはどの国ですか?"
    answers = SpanReader(im).scored(question, context)
    assert answers and {a.text for a in answers} <= {"米国", "英国"}


def test_answer_many_is_answer_pair_by_pair(im):
    """`qgen serve` reads many questions at once: the same spans, the same scores (to float rounding: the batches
    are padded differently), as one question at a time."""
    reader = SpanReader(im)
    pairs = [(q, CONTEXT) for q in QUESTIONS] + [("日本の首都は?", "東京は日本の首都である。"), ("何?", "。")]
    together = reader.answer_many(pairs)
    alone = [reader.answer(q, c) for q, c in pairs]
    assert [a.text for a in together] == [a.text for a in alone]
    assert [a.score for a in together] == pytest.approx([a.score for a in alone], abs=1e-3)
    assert together[-1].text == ""  # no candidate
