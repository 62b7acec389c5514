"""Hypothesis fuzzing: the file readers, text normalisation, the quiz answer parser and the metrics raise nothing but
their documented errors (QgenInputError for bad files; ValueError / TypeError for bad metric arguments) on any input.

Each test runs EXAMPLES examples, derandomised (the same examples on every machine and run) and with no example
database, so a failure reproduces exactly and nothing is written into the checkout. EXAMPLES × the number of @given
tests below is the total reported in the reliability notes.
"""

from __future__ import annotations

import json
import string

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from qgen.core.errors import QgenInputError
from qgen.evaluation import metrics

EXAMPLES = 200
fuzz = settings(max_examples=EXAMPLES, deadline=None, derandomize=True, database=None,
                suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])

# text that looks like the files qgen reads: separators, JSON punctuation, Japanese, odd Unicode, and anything else
_ALPHABET = st.one_of(st.sampled_from(list('\t\n\r {}[]":,\\0123456789-+.eEtrufalsn') + ["\ufeff", "\u2028", "\x85",
                                                                                          "東", "京", "。", "ｱ", "\x00"]),
                      st.characters())
texts = st.text(_ALPHABET, max_size=200)
json_values = st.recursive(
    st.none() | st.booleans() | st.integers(-10, 10**6) | st.floats(allow_nan=False) | st.text(max_size=20),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(
        st.sampled_from(["data", "paragraphs", "qas", "context", "title", "id", "question", "answers", "text",
                         "answer_start", "instruction", "input", "output", "q_id", "label", "choice0", "choice1",
                         "choice2", "choice3", "choice4", "answer_entity", "answer_candidates", "qid", "target",
                         "prediction", "source"]) | st.text(max_size=8), inner, max_size=6),
    max_leaves=25)


@pytest.fixture(scope="module")
def scratch(tmp_path_factory):
    return tmp_path_factory.mktemp("fuzz")


def _file(scratch, name: str, data: str | bytes):
    path = scratch / name
    if isinstance(data, bytes):
        path.write_bytes(data)
    else:
        path.write_text(data, encoding="utf-8", errors="surrogatepass")
    return path


def _only_documented(fn, *args, **kw):
    """Call fn; a QgenInputError is fine (that is the documented failure), anything else fails the test."""
    try:
        return fn(*args, **kw)
    except QgenInputError as e:
        assert str(e) and "\n" not in str(e).strip(), f"an error message must be one line: {e!r}"
        return None


# ---- readers ---------------------------------------------------------------------------------------------------------

@fuzz
@given(data=st.one_of(texts, st.binary(max_size=200)), suffix=st.sampled_from([".tsv", ".json", ".jsonl", ".txt"]))
def test_read_examples_any_bytes(scratch, data, suffix):
    from qgen.data.examples import read_examples

    rows = _only_documented(read_examples, _file(scratch, "in" + suffix, data))
    if rows is not None:
        assert all(isinstance(r.id, str) and isinstance(r.target, str) and r.target.strip() for r in rows)


@fuzz
@given(rows=st.lists(st.tuples(texts, texts, texts), max_size=6))
def test_tsv_round_trip_of_cleaned_fields(scratch, rows):
    """What write_tsv writes (cleaned, non-empty fields) read_tsv reads back unchanged."""
    from qgen.data.examples import read_tsv
    from qgen.data.tsv import clean, write_tsv

    cleaned = [tuple(clean(x.encode("utf-8", "replace").decode()) for x in row) for row in rows]
    cleaned = [row for row in cleaned if all(row)]
    path = scratch / "rt.tsv"
    write_tsv(path, cleaned)
    assert [(e.id, e.source, e.target) for e in read_tsv(path)] == cleaned


@fuzz
@given(value=json_values, lines=st.booleans())
def test_json_readers_any_structure(scratch, value, lines):
    """SQuAD, quiz, paraphrase, instruction and prediction readers on arbitrary JSON (a document or JSON lines)."""
    from qgen.data.examples import read_instructions, read_text_jsonl
    from qgen.data.jsonfile import load_json, load_records
    from qgen.data.korquad import load_paraphrases
    from qgen.data.quiz import read_quizzes
    from qgen.data.squad import read_squad
    from qgen.evaluation.records import read_predictions
    from qgen.quiz.prompt import read_quiz

    text = ("\n".join(json.dumps(v, ensure_ascii=False) for v in value) if lines and isinstance(value, list)
            else json.dumps(value, ensure_ascii=False))
    path = _file(scratch, "in.jsonl" if lines else "in.json", text)
    for reader in (load_json, load_records, read_squad, read_instructions, read_text_jsonl, load_paraphrases,
                   read_quiz, read_predictions):
        _only_documented(reader, path)
    for fmt in ("jcommonsenseqa", "jaqket"):
        _only_documented(read_quizzes, path, fmt)


@fuzz
@given(data=st.one_of(texts, st.binary(max_size=300)))
def test_json_readers_any_bytes(scratch, data):
    from qgen.data.jsonfile import load_json, load_records
    from qgen.data.squad import read_squad
    from qgen.evaluation.records import read_predictions

    path = _file(scratch, "raw.json", data)
    for reader in (load_json, load_records, read_squad, read_predictions):
        _only_documented(reader, path)


# ---- normalisation ---------------------------------------------------------------------------------------------------

@fuzz
@given(text=st.text(_ALPHABET, max_size=120), lang=st.sampled_from(["ja", "ko", "en"]))
def test_normalize_total_and_idempotent(text, lang):
    from qgen.core.text import normalize

    once = normalize(text, lang)
    assert isinstance(once, str)
    assert not set("\r\n\u2028\u2029\x85\x0b\x0c") & set(once)  # newlines never survive
    assert normalize(once, lang) == once  # documented: idempotent


def test_normalize_documented_errors():
    from qgen.core.text import normalize

    with pytest.raises(TypeError):
        normalize(None)  # type: ignore[arg-type]
    with pytest.raises(ValueError):
        normalize("x", "fr")


# ---- quiz answer parser ----------------------------------------------------------------------------------------------

@fuzz
@given(text=st.text(st.one_of(st.sampled_from(list(string.digits + "０１２３４５６７８９:：.)、, \n")), st.characters()),
                    max_size=40),
       choices=st.lists(st.text(max_size=10), min_size=2, max_size=6))
def test_parse_answer_in_range_or_none(text, choices):
    from qgen.quiz.scoring import parse_answer

    got = parse_answer(text, choices)
    assert got is None or (isinstance(got, int) and 0 <= got < len(choices))


# ---- metrics ---------------------------------------------------------------------------------------------------------

refs_items = st.one_of(st.text(max_size=30), st.lists(st.text(max_size=30), min_size=1, max_size=3))


@fuzz
@given(pairs=st.lists(st.tuples(st.text(max_size=30), refs_items), min_size=1, max_size=4))
def test_metrics_in_range(pairs):
    preds, refs = [p for p, _ in pairs], [r for _, r in pairs]
    for value in (metrics.exact_match(preds, refs), metrics.char_f1(preds, refs),
                  *metrics.rouge(preds, refs).values()):
        assert 0.0 <= value <= 1.0
    assert 0.0 <= metrics.bleu(preds, refs) <= 100.0
    assert 0.0 <= metrics.sentence_bleu(preds[0], refs[0]) <= 100.0


@fuzz
@given(preds=st.one_of(st.lists(st.one_of(st.text(max_size=5), st.integers(), st.none()), max_size=3), st.text(max_size=5)),
       refs=st.one_of(st.lists(st.one_of(st.text(max_size=5), st.lists(st.text(max_size=5), max_size=2), st.integers(),
                                         st.none()), max_size=3), st.text(max_size=5)))
def test_metrics_reject_bad_arguments_with_documented_errors(preds, refs):
    for fn in (metrics.exact_match, metrics.char_f1, metrics.bleu, metrics.rouge):
        try:
            fn(preds, refs)
        except (ValueError, TypeError) as e:
            assert str(e)
