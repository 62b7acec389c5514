"""A quiz with more than 10 choices (issue 29): choice-token scoring reads one token per label, and "10" is seldom
one token, so it is refused before any forward pass with one QgenInputError naming the file and record; loglik
scoring, which reads the choices' texts, scores all of them."""

import pytest

from qgen.core.errors import QgenInputError
from qgen.core.files import write_json
from qgen.data.quiz import read_quizzes, render
from qgen.models.formats.sequence import make_format
from qgen.models.input_spec import InputSpec
from qgen.models.loading import load_model, load_tokenizer, resolve
from qgen.quiz.prompt import read_quiz
from qgen.quiz.scoring import QuizScorer
from qgen.quiz.tokenization import label_token_ids

CHOICES = ["東京", "大阪", "京都", "札幌", "福岡", "仙台", "広島", "名古屋", "神戸", "横浜", "千葉", "奈良"]


@pytest.fixture(scope="module")
def tiny(tmp_path_factory, jcqa_train):
    train, _ = read_quizzes(jcqa_train, "jcommonsenseqa")
    texts = [render(q, "train")["instruction"] + render(q, "train")["output"] for q in train[:300]]
    path = resolve("tiny-gpt2", texts, tmp_path_factory.mktemp("quiz-tiny"))
    tok = load_tokenizer(path)
    return load_model(path).eval(), tok, make_format("causal", tok, InputSpec(prompt_format="opencalm"))


@pytest.fixture()
def twelve(tmp_path):
    path = tmp_path / "twelve.json"
    write_json(path, [{"id": "q12", "instruction": "問題: 日本の首都は?",
                       "input": "\n".join(f"{i}: {c}" for i, c in enumerate(CHOICES)), "output": "0: 東京"}])
    return path


def test_choice_token_refuses_labels_that_are_not_one_token(tiny, twelve):
    model, tok, causal_format = tiny
    with pytest.raises(ValueError):
        label_token_ids(tok, ["10"])  # the premise: this tokenizer has no single token "10"
    with pytest.raises(QgenInputError) as e:
        QuizScorer(model, tok, causal_format).score(read_quiz(twelve))
    assert str(e.value).startswith(f"{twelve}, record q12, field 'input': 12 choices: choice label '10'")
    assert "--scoring loglik" in str(e.value)


def test_loglik_scores_all_twelve(tiny, twelve):
    model, tok, causal_format = tiny
    (scored,) = QuizScorer(model, tok, causal_format, "loglik").score(read_quiz(twelve))
    assert len(scored.probs) == 12 and abs(sum(scored.probs) - 1) < 1e-4  # a softmax over the 12 (float32 sums)
