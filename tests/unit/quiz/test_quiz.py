"""Quiz scorers on a tiny real model and real JCommonsenseQA items, checked against independent computations."""

import pytest
import torch

from qgen.core.files import write_json
from qgen.core.text import ELLIPSIS, cut_middle
from qgen.data.examples import Example
from qgen.data.quiz import read_quizzes, render
from qgen.models.formats.sequence import make_format
from qgen.models.input_spec import InputSpec
from qgen.models.loading import load_model, load_tokenizer, resolve
from qgen.quiz.prompt import read_quiz
from qgen.quiz.scoring import QuizScorer, parse_answer
from qgen.quiz.tokenization import label_token_ids


@pytest.fixture(scope="module")
def quizzes(jcqa_valid):
    qs, _ = read_quizzes(jcqa_valid, "jcommonsenseqa")
    return qs[:8]


@pytest.fixture(scope="module")
def tiny(tmp_path_factory, jcqa_train):
    train, _ = read_quizzes(jcqa_train, "jcommonsenseqa")
    texts = [render(q, "train")["instruction"] + render(q, "train")["output"] for q in train[:300]]
    d = tmp_path_factory.mktemp("quiz-tiny")
    out = {}
    for name in ("tiny-gpt-neox", "tiny-gpt2"):
        path = resolve(name, texts, d)
        tok = load_tokenizer(path)
        out[name] = (load_model(path).eval(), tok, make_format("causal", tok, InputSpec(prompt_format="opencalm")))
    return out


@pytest.fixture(scope="module")
def items(quizzes, tmp_path_factory):
    path = tmp_path_factory.mktemp("quiz-data") / "eval.json"
    write_json(path, [render(q, "eval") for q in quizzes])
    return read_quiz(path)


def test_read_quiz_eval_and_train_style(items, quizzes, tmp_path):
    assert [it.choices for it in items] == [list(q.choices) for q in quizzes]
    assert [it.gold for it in items] == [q.label for q in quizzes]
    assert [it.question for it in items] == [q.question for q in quizzes]
    path = tmp_path / "train.json"
    write_json(path, [render(q, "train") for q in quizzes])
    train_items = read_quiz(path)
    assert [it.choices for it in train_items] == [list(q.choices) for q in quizzes]
    assert [it.gold for it in train_items] == [q.label for q in quizzes]


def test_train_style_prompt_is_the_training_prompt(tiny, items, quizzes):
    # the prompt ids are exactly what the trainer's causal format puts before the answer for the train-style record
    model, tok, causal_format = tiny["tiny-gpt-neox"]
    scorer = QuizScorer(model, tok, causal_format)
    for it, q in zip(items, quizzes):
        rec = render(q, "train")
        assert scorer.prompter.build(it)[0] == causal_format.encode_prompt(Example(q.id, rec["instruction"], rec["output"]))


@pytest.mark.parametrize("name", ["tiny-gpt-neox", "tiny-gpt2"])
def test_label_tokens_found_in_both_tokenizer_styles(tiny, name):
    _, tok, _ = tiny[name]
    ids = label_token_ids(tok, ["0", "1", "2", "3", "4"])
    for label, variants in zip("01234", ids):
        assert variants
        for t in variants:
            assert tok.convert_ids_to_tokens(t).lstrip("▁Ġ ").translate(str.maketrans("０１２３４", "01234")) == label
    # the token the tokenizer itself uses for the answer "2: …" (what training taught the model) is among them
    first = tok("2: マザーボード", add_special_tokens=False)["input_ids"][0]
    assert first in ids[2]


def _independent_label_probs(model, tok, text):
    """Plain forward of the unpadded prompt; softmax over the labels of logsumexp of each label's spellings."""
    ids = tok(text, add_special_tokens=False)["input_ids"]
    if tok.bos_token_id is not None and tok("a")["input_ids"][0] == tok.bos_token_id:  # Llama-style adds BOS itself
        ids = [tok.bos_token_id] + ids
    ids = torch.tensor([ids])
    with torch.no_grad():
        logp = torch.log_softmax(model(input_ids=ids).logits[0, -1].double(), -1)
    vocab = tok.get_vocab()
    per_label = []
    for d in "01234":
        spellings = [vocab[s] for s in (d, "▁" + d, "Ġ" + d, chr(ord("０") + int(d)), "▁" + chr(ord("０") + int(d)))
                     if s in vocab]
        per_label.append(torch.logsumexp(logp[spellings], 0))
    return torch.softmax(torch.stack(per_label), 0)


@pytest.mark.parametrize("name", ["tiny-gpt-neox", "tiny-gpt2"])
def test_choice_token_matches_plain_forward(tiny, items, quizzes, name):
    model, tok, causal_format = tiny[name]
    scored = QuizScorer(model, tok, causal_format, "choice-token", batch_size=3).score(items)  # padded batches
    for s, q in zip(scored, quizzes):
        text = render(q, "train")["instruction"]  # ends with the "### 回答:" cue, so opencalm adds nothing
        expected = _independent_label_probs(model, tok, text)
        assert torch.allclose(torch.tensor(s.probs, dtype=torch.float64), expected, atol=2e-5)
        assert s.pred == int(expected.argmax())
        assert sum(s.probs) == pytest.approx(1.0)


@pytest.mark.parametrize("name", ["tiny-gpt-neox", "tiny-gpt2"])
def test_loglik_matches_summed_log_softmax(tiny, items, name):
    model, tok, causal_format = tiny[name]
    sc = QuizScorer(model, tok, causal_format, "loglik")
    scored = sc.score(items[:3])
    norm = QuizScorer(model, tok, causal_format, "loglik-norm").score(items[:3])
    for it, s, sn in zip(items, scored, norm):
        prompt = sc.prompter.build(it)[0]
        sums = []
        for choice in it.choices:
            cont = tok(choice, add_special_tokens=False)["input_ids"]
            with torch.no_grad():
                logits = model(input_ids=torch.tensor([prompt + cont])).logits[0].double()
            logp = torch.log_softmax(logits, -1)
            sums.append(sum(float(logp[len(prompt) - 1 + j, t]) for j, t in enumerate(cont)))
        assert s.scores == pytest.approx(sums, abs=1e-4)
        assert s.pred == max(range(len(sums)), key=lambda i: sums[i])
        normed = [v / len(c) for v, c in zip(sums, it.choices)]  # lm-eval acc_norm: per character
        assert sn.pred == max(range(len(normed)), key=lambda i: normed[i])


def test_loglik_answer_target_scores_the_whole_answer(tiny, items):
    model, tok, causal_format = tiny["tiny-gpt-neox"]
    sc = QuizScorer(model, tok, causal_format, "loglik", loglik_target="answer")
    assert sc.continuation(items[0], 2) == f"2: {items[0].choices[2]}"
    assert len(sc.score(items[:1])[0].scores) == len(items[0].choices)


def test_generate_matches_unpadded_greedy(tiny, items):
    model, tok, causal_format = tiny["tiny-gpt-neox"]
    sc = QuizScorer(model, tok, causal_format, "generate", batch_size=4, max_new_tokens=6)
    scored = sc.score(items[:4])
    first = QuizScorer(model, tok, causal_format, "choice-token").score(items[:4])
    for it, s, f in zip(items, scored, first):
        prompt = sc.prompter.build(it)[0]
        with torch.no_grad():
            out = model.generate(input_ids=torch.tensor([prompt]), max_new_tokens=6, do_sample=False,
                                 pad_token_id=tok.pad_token_id)
        new = out[0, len(prompt):].tolist()
        if tok.eos_token_id in new:
            new = new[: new.index(tok.eos_token_id)]
        assert s.raw == tok.decode(new, skip_special_tokens=True)
        assert s.pred == parse_answer(s.raw, it.choices)
        assert s.probs == pytest.approx(f.probs, abs=2e-5)  # first decoding step = the choice-token distribution


@pytest.mark.parametrize("text,expected", [
    ("2: マザーボード", 2),
    ("２：マザーボード", 2),          # full-width digit and colon
    ("2", 2),
    (" 3. ハードディスク\n次の問題", 3),
    ("マザーボード", 2),              # text only
    ("答えはマザーボードです", 2),     # the only choice text inside
    ("2: パソコン", 2),               # number and text disagree: the number wins (documented)
    ("7: マザーボード", 2),            # out-of-range number: fall back to the text
    ("ディスク", None),
    ("パソコンかマザーボード", None),   # two choices named
    ("", None),
])
def test_parse_answer(text, expected):
    assert parse_answer(text, ["掲示板", "パソコン", "マザーボード", "ハードディスク", "まな板"]) == expected


def test_parse_answer_prefers_the_longer_contained_choice():
    assert parse_answer("ハードディスクです", ["ディスク", "ハードディスク", "まな板"]) == 1


def test_cut_middle_by_hand():
    # 10 chars, remove 2 centred at 70% (position 7): start = round(7 - 1) = 6 -> keep "012345" + "89"
    assert cut_middle("0123456789", 2) == "012345" + ELLIPSIS + "89"
    assert cut_middle("0123456789", 0) == "0123456789"
    assert cut_middle("0123456789", 10) == ""
    assert cut_middle("0123456789", 6) == "0123" + ELLIPSIS  # the span is shifted to stay inside the text


def test_truncation_cuts_reference_then_question_never_choices_or_cue(tiny, items):
    model, tok, causal_format = tiny["tiny-gpt-neox"]
    it = items[0]
    passages = [{"title": f"記事{i}", "text": "これは参考のための長い文章です。" * 4} for i in range(3)]
    sc = QuizScorer(model, tok, causal_format, "choice-token")
    full_ids, info = sc.prompter.build(it, passages)
    assert info["cut_reference"] == 0 and "[参考]\n・記事0: これは" in tok.decode(full_ids)
    sc.prompter.budget = len(full_ids) - 100
    ids, info = sc.prompter.build(it, passages)
    text = tok.decode(ids, skip_special_tokens=True)
    assert len(ids) <= sc.prompter.budget and info["cut_reference"] > 0 and info["cut_question"] == 0
    assert ELLIPSIS in text and it.question in text and text.rstrip().endswith("### 回答:")
    assert all(f"{i}: {c}" in text for i, c in enumerate(it.choices))
    # smaller than the prompt without any reference: the whole reference goes, then the question is cut
    plain_ids, _ = sc.prompter.build(it)
    sc.prompter.budget = len(plain_ids) - 3
    ids, info = sc.prompter.build(it, passages)
    text = tok.decode(ids, skip_special_tokens=True)
    assert len(ids) <= sc.prompter.budget and info["cut_question"] > 0 and info["cut_left_tokens"] == 0
    assert all(f"{i}: {c}" in text for i, c in enumerate(it.choices)) and text.rstrip().endswith("### 回答:")


def test_record_style_keeps_the_record_text(tiny, items):
    model, tok, causal_format = tiny["tiny-gpt-neox"]
    sc = QuizScorer(model, tok, causal_format, prompt_style="record")
    text = sc.prompter.text(items[0], "[参考]\n・本文")
    assert text.startswith(items[0].instruction.split("問題")[0] + "[参考]\n・本文\n\n問題")
    assert items[0].input in text and text.endswith("### 回答:\n")


def test_loglik_prompt_leaves_room_for_the_longest_choice(tiny, items):
    model, tok, causal_format = tiny["tiny-gpt-neox"]
    passages = [{"title": "記事", "text": "これは参考のための長い文章です。" * 10}]
    for max_len in (120, 60):
        sc = QuizScorer(model, tok, causal_format, "loglik", max_len=max_len)
        s = sc.score(items[:1], [passages])[0]
        longest = max(len(tok(c, add_special_tokens=False)["input_ids"]) for c in items[0].choices)
        assert s.prompt_tokens + longest <= max_len
        assert s.cut["cut_reference"] > 0
