"""The shipped `qgen-small-ja` (qgen/models/pretrained/): loads offline by name and by plain transformers, and writes
questions about its input — greedy, so the outputs are fixed for the shipped weights."""

import pytest
from transformers import AutoModelForSeq2SeqLM, AutoTokenizer

from qgen.data.jsquad import convert
from qgen.data.squad import read_squad
from qgen.evaluation import hallucination as H
from qgen.inference.generation import GenerationSettings, Generator
from qgen.inference.loader import load_inference_model
from qgen.models import pretrained


@pytest.fixture(scope="module")
def jsquad_examples(jsquad_valid):
    """Two fixed JSQuAD validation questions from different articles, as AQG-HL sources (answer's sentence)."""
    questions, _ = read_squad(jsquad_valid)
    examples = convert(questions, "aqg_hl", context_window="sentence")
    first = examples[0]
    article = lambda ex: ex.id.split("p")[0]  # noqa: E731  (JSQuAD ids: a10336p0q2 = article a10336, paragraph 0)
    other = next(ex for ex in examples if article(ex) != article(first))
    return [first, other]


def test_plain_transformers_loads_the_shipped_directory():
    path = pretrained.path("qgen-small-ja")
    model = AutoModelForSeq2SeqLM.from_pretrained(path)
    tok = AutoTokenizer.from_pretrained(path)
    assert model.config.model_type == "t5" and "<hl>" in tok.get_vocab()
    assert sum(p.numel() for p in model.parameters()) < 15_000_000
    assert (path / "README.md").is_file()  # the model card


def test_greedy_questions_are_about_their_own_input(jsquad_examples):
    im = load_inference_model("qgen-small-ja")
    outputs = Generator(im).generate(jsquad_examples, GenerationSettings(num_beams=1, max_new_tokens=48))
    questions = [o.texts[0] for o in outputs]
    assert questions[0] != questions[1], questions
    for ex, q in zip(jsquad_examples, questions):
        paragraph = ex.source.replace("<hl>", "")
        hallucinated, n_content = H.hallucination_details([q], [paragraph], H.QUESTION_STOP_WORDS, 1)[0]
        assert n_content > len(hallucinated), (q, paragraph)  # >= 1 content word of the paragraph
