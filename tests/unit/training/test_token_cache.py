"""The token cache (batching.encode_cached) is derived data: a damaged one — not JSON, the wrong shape, ids outside
the vocabulary — is rebuilt with a warning naming it, never handed to the loop (issue 29: a damaged cache failed
deep inside a step)."""

import json
import logging

import pytest

from qgen.data.examples import Example
from qgen.models.formats.sequence import make_format
from qgen.models.input_spec import InputSpec
from qgen.models.loading import load_tokenizer, resolve
from qgen.training.batching import encode_cached

TEXTS = ["answer: 東京 context: 東京は日本の首都である。", "日本の首都は?", "answer: 大阪 context: 大阪は商業の街。", "商業の街は?"]
EXAMPLES = [Example("a", TEXTS[0], TEXTS[1]), Example("b", TEXTS[2], TEXTS[3])]


@pytest.fixture(scope="module")
def sequence_format(tmp_path_factory):
    tok = load_tokenizer(resolve("tiny-t5", TEXTS * 20, tmp_path_factory.mktemp("tiny")))
    return make_format("seq2seq", tok, InputSpec(max_source_len=32, max_target_len=16))


DAMAGE = {
    "not-json": lambda fresh, vocab: "[{oops",
    "not-features": lambda fresh, vocab: json.dumps([{"input_ids": "abc", "labels": []}] * len(fresh)),
    "id-outside-vocab": lambda fresh, vocab: json.dumps([{**f, "input_ids": [vocab + 5]} for f in fresh]),
    "negative-label": lambda fresh, vocab: json.dumps([{**f, "labels": [-7]} for f in fresh]),
}


@pytest.mark.parametrize("damage", DAMAGE, ids=list(DAMAGE))
def test_damaged_cache_is_rebuilt(sequence_format, tmp_path, caplog, damage):
    source = tmp_path / "train.tsv"
    source.write_text("\n".join(f"{e.id}\t{e.source}\t{e.target}" for e in EXAMPLES) + "\n", encoding="utf-8")
    fresh = encode_cached(EXAMPLES, sequence_format, source, tmp_path / "cache", {"max_source_len": 32})
    (cache,) = (tmp_path / "cache").glob("*.json")
    cache.write_text(DAMAGE[damage](fresh, len(sequence_format.tokenizer)), encoding="utf-8")
    with caplog.at_level(logging.WARNING, logger="qgen.training.batching"):
        again = encode_cached(EXAMPLES, sequence_format, source, tmp_path / "cache", {"max_source_len": 32})
    assert again == fresh and json.loads(cache.read_text(encoding="utf-8")) == fresh
    assert f"token cache {cache} is damaged: rebuilding it" in caplog.text
