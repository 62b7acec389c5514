"""Batching on the real JSQuAD AQG rows: length grouping removes most padding; token budgets hold; orders are seeded."""

import pytest
from helpers.train_helpers import (
    build_tiny,
    one_thread,  # noqa: F401  (a fixture, used by pytestmark)
)

from qgen.data.jsquad import convert
from qgen.data.squad import read_squad
from qgen.models.formats.sequence import make_format
from qgen.models.input_spec import InputSpec
from qgen.models.loading import load_tokenizer
from qgen.training import batching

pytestmark = pytest.mark.usefixtures("one_thread")


@pytest.fixture(scope="module")
def lens(jsquad_valid, tmp_path_factory):
    questions, _ = read_squad(jsquad_valid)
    examples = convert(questions, "aqg")
    root = build_tiny(tmp_path_factory.mktemp("tiny"), ["tiny-t5"], [e.source for e in examples[:1500]])
    sequence_format = make_format("seq2seq", load_tokenizer(str(root / "tiny-t5")), InputSpec(max_source_len=512, max_target_len=64))
    feats = [sequence_format.encode(e) for e in examples]
    return batching.lengths(feats), [len(f["input_ids"]) for f in feats]


def test_length_grouping_cuts_padding_on_jsquad(lens):
    lengths, source = lens
    random_ = batching.make_batches(lengths, 16, group_by_length=False, seed=0)
    grouped = batching.make_batches(lengths, 16, group_by_length=True, seed=0)
    pad_random, pad_grouped = batching.padding_fraction(source, random_), batching.padding_fraction(source, grouped)
    print(f"JSQuAD AQG source padding, batch 16: random {pad_random:.3f}, length-grouped {pad_grouped:.3f}")
    assert pad_random > 0.3  # contexts vary a lot in length: random batches are mostly padding
    assert pad_grouped < 0.2  # real tokens ≥ 80%
    assert sorted(i for b in grouped for i in b) == list(range(len(lengths)))  # every example once


def test_order_is_a_function_of_seed_and_epoch(lens):
    lengths, _ = lens
    a = batching.make_batches(lengths, 16, seed=1, epoch=0)
    assert a == batching.make_batches(lengths, 16, seed=1, epoch=0)
    assert a != batching.make_batches(lengths, 16, seed=1, epoch=1)


def test_token_budget(lens):
    lengths, _ = lens
    budget = 4096
    batches = batching.make_batches(lengths, 16, max_tokens=budget, seed=0)
    assert sorted(i for b in batches for i in b) == list(range(len(lengths)))
    for b in batches:
        assert max(lengths[i] for i in b) * len(b) <= budget or len(b) == 1
    assert sum(len(b) for b in batches) / len(batches) > 16  # short examples pack more per batch than a fixed 16


def test_shard_covers_the_batch_once():
    batch = [7, 3, 9, 1, 4]
    shards = [batching.shard(batch, r, 2) for r in range(2)]
    assert sorted(i for s, real in shards for i in s) == sorted(batch) and all(real for _, real in shards)
    assert batching.shard([7], 1, 2) == ([7], False)  # an empty rank gets a placeholder it must not count
