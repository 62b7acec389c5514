"""loglik scoring in lm-evaluation-harness's joint tokenisation, pinned without the harness: scores recomputed by hand
from raw logits of one plain forward per choice, on a sentencepiece (Llama-style, dummy prefix, BOS) and a byte-level
BPE (OpenCALM-style) tiny model with real JCommonsenseQA items."""

import json

import pytest
import torch
from helpers.tiny_conventions import build

from qgen.core.files import write_json
from qgen.data.quiz import read_quizzes, render
from qgen.models.formats.sequence import make_format
from qgen.models.input_spec import InputSpec
from qgen.models.loading import load_model, load_tokenizer, resolve
from qgen.quiz.prompt import read_quiz
from qgen.quiz.scoring import QuizScorer
from qgen.quiz.tokenization import default_tokenization, harness_encode_pair

# summed float32 log-probs over a few tokens, computed with a KV cache vs one plain forward: observed differences are
# ~1e-6; 1e-4 is the tolerance the harness comparison is stated with
TOL = 1e-4


@pytest.fixture(scope="module")
def models(tmp_path_factory, jcqa_train):
    train, _ = read_quizzes(jcqa_train, "jcommonsenseqa")
    texts = [render(q, "train")["instruction"] + render(q, "train")["output"] for q in train[:150]]
    d = tmp_path_factory.mktemp("harness")
    paths = {"spm": resolve("tiny-gpt-neox", texts, d), "bpe": str(build("opencalm", texts, d / "opencalm"))}
    out = {"paths": paths}
    for name, path in paths.items():
        tok = load_tokenizer(path)
        out[name] = (load_model(path).eval(), tok, make_format("causal", tok, InputSpec(prompt_format="opencalm")))
    return out


@pytest.fixture(scope="module")
def items(jcqa_valid, tmp_path_factory):
    valid, _ = read_quizzes(jcqa_valid, "jcommonsenseqa")
    path = tmp_path_factory.mktemp("harness-data") / "eval.json"
    write_json(path, [render(q, "eval") for q in valid[:4]])
    return read_quiz(path)


def _by_hand(model, tok, context: str, continuation: str) -> float:
    """The harness's recipe written out: whitespace moved, context and context+continuation encoded with the
    tokenizer's default special tokens (its add_bos_token unset), the continuation = the tokens past the context's
    length, one forward of context+continuation."""
    stripped = context.rstrip()
    continuation = context[len(stripped):] + continuation
    ctx = tok(stripped)["input_ids"]
    cont = tok(stripped + continuation)["input_ids"][len(ctx):]
    with torch.no_grad():
        logp = torch.log_softmax(model(input_ids=torch.tensor([ctx + cont])).logits[0].double(), -1)
    return sum(float(logp[len(ctx) - 1 + j, t]) for j, t in enumerate(cont))


def test_encode_pair_moves_trailing_whitespace(models):
    _, tok, _ = models["spm"]
    ctx, cont = harness_encode_pair(tok, "### 回答:\n", "東京")
    assert ctx[0] == tok.bos_token_id  # this Llama-style tokenizer adds BOS itself, and the harness lets it
    assert ctx == tok("### 回答:")["input_ids"]  # "\n" moved to the continuation
    assert ctx + cont == tok("### 回答:\n東京")["input_ids"]
    assert harness_encode_pair(tok, "<s>### 回答:", "x")[0] == tok("<s>### 回答:", add_special_tokens=False)["input_ids"]
    assert harness_encode_pair(tok, "### 回答:", "x", add_bos_token=False)[0][0] != tok.bos_token_id


@pytest.mark.parametrize("name", ["spm", "bpe"])
@pytest.mark.parametrize("delimiter", ["", " "])
def test_joint_scores_equal_hand_computed(models, items, name, delimiter):
    model, tok, causal_format = models[name]
    sc = QuizScorer(model, tok, causal_format, "loglik", loglik_tokenization="joint", target_delimiter=delimiter)
    norm = QuizScorer(model, tok, causal_format, "loglik-norm", loglik_tokenization="joint", target_delimiter=delimiter)
    for it, s, sn in zip(items, sc.score(items), norm.score(items)):
        assert s.prompt.endswith("### 回答:\n")  # the prompt recorded is the text scored
        expected = [_by_hand(model, tok, s.prompt, delimiter + c) for c in it.choices]
        assert s.scores == pytest.approx(expected, abs=TOL)
        normed = [v / len(c) for v, c in zip(expected, it.choices)]  # harness acc_norm: per character of the choice
        assert s.extra["pred_acc"] == max(range(5), key=expected.__getitem__) == s.pred
        assert s.extra["pred_acc_norm"] == max(range(5), key=normed.__getitem__) == sn.pred
        assert sn.scores == s.scores  # -norm changes the pick, not the log-likelihoods


def test_apart_differs_from_joint_with_a_dummy_prefix(models, items):
    # sentencepiece: the apart continuation starts with "▁" (and follows a BOS); the joint one never has it
    model, tok, causal_format = models["spm"]
    apart = QuizScorer(model, tok, causal_format, "loglik", loglik_tokenization="apart").score(items[:2])
    joint = QuizScorer(model, tok, causal_format, "loglik", loglik_tokenization="joint").score(items[:2])
    first = tok(items[0].choices[0], add_special_tokens=False)["input_ids"][0]
    assert tok.convert_ids_to_tokens(first).startswith("▁")
    for a, j in zip(apart, joint):
        assert all(abs(x - y) > TOL for x, y in zip(a.scores, j.scores))


def test_default_tokenization(tmp_path, models):
    from qgen.training.config import TrainConfig

    assert default_tokenization("cyberagent/open-calm-small") == "joint"
    TrainConfig().save(tmp_path)
    assert default_tokenization(str(tmp_path)) == "apart"  # trained by qgen: qgen_config.yaml beside the weights


def test_cli_records_the_prompt_and_both_accuracies(models, items, tmp_path, capsys):
    from qgen.cli.quiz import main

    _, tok, causal_format = models["bpe"]
    base = ["--model", models["paths"]["bpe"], "--input", items[0].file]
    assert main([*base, "--output-dir", str(tmp_path / "ll"), "--scoring", "loglik"]) == 0
    assert "acc_norm" in capsys.readouterr().out.splitlines()[-2]  # the overall line
    records = json.loads((tmp_path / "ll" / "result.json").read_text(encoding="utf-8"))
    metrics = json.loads((tmp_path / "ll" / "metrics.json").read_text(encoding="utf-8"))
    assert metrics["settings"]["loglik_tokenization"] == "joint"  # no qgen_config.yaml: not trained by qgen
    assert metrics["overall"]["lm_eval"] == {"acc": sum(r["acc"] for r in records) / len(records),
                                             "acc_norm": sum(r["acc_norm"] for r in records) / len(records)}
    for r in records:
        assert r["prompt"].endswith("### 回答:\n") and r["pred"] == r["pred_acc"]
        assert r["continuation_chars"] == [len(c) for c in r["choices"]]
    assert main([*base, "--output-dir", str(tmp_path / "ct")]) == 0
    for r in json.loads((tmp_path / "ct" / "result.json").read_text(encoding="utf-8")):
        # the recorded prompt is exactly the text whose tokens were scored
        assert r["prompt_tokens"] == len(causal_format.bos + tok(r["prompt"], add_special_tokens=False)["input_ids"])
        assert "acc" not in r
