"""Causal speed paths that must not change the maths: target-only logits and packing (issue 14).

Tolerances: the packed / target-only forward computes the same sums over a different row layout, so fp32 results
differ by float summation order only (observed ≤ 1e-7); 1e-5 is the issue's bound, far below any real leak between
examples (a leak moves the loss by ~1e-2 and the gradients by ~1e-1 on these models).
"""

import dataclasses

import pytest
import torch
from helpers import train_helpers as th
from helpers.train_helpers import one_thread  # noqa: F401  (a fixture, used by pytestmark)

from qgen.core.constants import IGNORE
from qgen.core.errors import QgenInputError
from qgen.data.examples import read_examples
from qgen.data.tsv import write_tsv
from qgen.models.formats.sequence import make_format
from qgen.models.input_spec import InputSpec
from qgen.models.loading import load_model, load_tokenizer
from qgen.training import batching, losses, packing
from qgen.training.forward import causal_targets, keeps_logits, logits_and_labels
from qgen.training.loop import train

CAUSAL = ["tiny-gpt2", "tiny-gpt-neox", "tiny-llama"]
CUT = (120, 30, 50, 70, 20, 90, 40, 100, 25)  # the last N tokens of each example: lengths that pack unevenly

pytestmark = pytest.mark.usefixtures("one_thread")


@pytest.fixture(scope="module")
def files_and_tiny(jsquad_valid, tmp_path_factory):
    """24 / 6 JSQuAD rows and the tiny models (tokenizers trained on them)."""
    files = th.write_jsquad(jsquad_valid, tmp_path_factory.mktemp("data"), n_train=24, n_dev=6)
    return files, th.build_tiny_for(tmp_path_factory.mktemp("tiny"), CAUSAL + ["tiny-t5"], files[0])


@pytest.fixture(scope="module")
def files(files_and_tiny):
    return files_and_tiny[0]


@pytest.fixture(scope="module")
def tiny(files_and_tiny):
    return files_and_tiny[1]


def _features(tiny, name, files):
    tok = load_tokenizer(str(tiny / name))
    sequence_format = make_format("causal", tok, InputSpec(max_len=120, prompt_format="opencalm"))
    full = [sequence_format.encode(ex) for ex in read_examples(files[0])[: len(CUT)]]
    feats = [{k: v[-n:] for k, v in f.items()} for f, n in zip(full, CUT)]
    # plain-text LM style: every token is a target, the first included (the shift drops it; packing must too)
    feats.append({"input_ids": full[0]["input_ids"][:15], "labels": full[0]["input_ids"][:15]})
    return sequence_format, feats


def _target_only_equals_full(model, sequence_format, batch):
    full = _loss_and_grads(model, sequence_format, batch, target_only=False)
    rows = _loss_and_grads(model, sequence_format, batch, target_only=True)
    assert rows[1] == full[1] and rows[0] == pytest.approx(full[0], abs=1e-5)
    torch.testing.assert_close(rows[2], full[2], atol=1e-5, rtol=0)


def _loss_and_grads(model, sequence_format, batch, target_only):
    model.zero_grad(set_to_none=True)
    logits, labels = logits_and_labels(model, sequence_format, batch, target_only)
    loss_sum, n = losses.cross_entropy(logits, labels)
    (loss_sum / n).backward()
    loss_sum = loss_sum.detach()
    grads = torch.cat([p.grad.flatten() for p in model.parameters() if p.grad is not None])
    return float(loss_sum / n), int(n), grads


@pytest.mark.parametrize("attn", ["eager", "sdpa"])
@pytest.mark.parametrize("name", CAUSAL)
def test_packed_and_target_only_equal_the_plain_batch(tiny, files, name, attn):
    sequence_format, feats = _features(tiny, name, files)
    model = load_model(str(tiny / name), attn_implementation=attn).eval()  # eval: no dropout masks to differ
    assert keeps_logits(model)
    plain = _loss_and_grads(model, sequence_format, sequence_format.collate(feats), target_only=False)
    target = _loss_and_grads(model, sequence_format, sequence_format.collate(feats), target_only=True)
    packed_batch = packing.collate(feats, sequence_format.tokenizer.pad_token_id)
    assert packed_batch["input_ids"].shape[0] < len(feats)  # it really packed
    packed = _loss_and_grads(model, sequence_format, packed_batch, target_only=True)
    for got in (target, packed):
        assert got[1] == plain[1]  # the same target tokens
        assert got[0] == pytest.approx(plain[0], abs=1e-5)
        torch.testing.assert_close(got[2], plain[2], atol=1e-5, rtol=0)
    counted = sum(batching.count_targets("causal", b) for b in (packed_batch,))
    assert counted == plain[1]


def test_seq2seq_target_rows_only_equal_the_full_decoder_logits(tiny, files):
    """T5 (tied embeddings: the decoder output is scaled before the output layer) with the output layer's input cut to
    the target rows: the same loss and gradients (fp32 summation order only, see the module docstring)."""
    tok = load_tokenizer(str(tiny / "tiny-t5"))
    sequence_format = make_format("seq2seq", tok, InputSpec(max_source_len=96, max_target_len=24))
    feats = [sequence_format.encode(ex) for ex in read_examples(files[0])[:8]]
    assert len({len(f["labels"]) for f in feats}) > 1  # targets of several lengths: padded rows to skip
    model = load_model(str(tiny / "tiny-t5")).eval()
    _target_only_equals_full(model, sequence_format, sequence_format.collate(feats))
    assert not model.get_output_embeddings()._forward_pre_hooks  # the hook is gone afterwards


class _NoKeep(torch.nn.Module):
    """A causal model whose forward has no `logits_to_keep` (older or remote-code models)."""

    def __init__(self, model):
        super().__init__()
        self.inner, self.config = model, model.config

    def get_output_embeddings(self):
        return self.inner.get_output_embeddings()

    def forward(self, input_ids, attention_mask=None, position_ids=None, use_cache=None):
        return self.inner(input_ids=input_ids, attention_mask=attention_mask, position_ids=position_ids,
                          use_cache=use_cache)


def test_causal_without_logits_to_keep_cuts_the_output_layer_input(tiny, files):
    sequence_format, feats = _features(tiny, "tiny-llama", files)
    model = _NoKeep(load_model(str(tiny / "tiny-llama")).eval())
    assert not keeps_logits(model)
    _target_only_equals_full(model, sequence_format, sequence_format.collate(feats))


def test_causal_targets_pairs_each_position_with_the_next_label():
    labels = torch.tensor([[IGNORE, IGNORE, 5, 6], [IGNORE, 7, IGNORE, IGNORE]])
    keep, targets = causal_targets(labels)
    assert keep.tolist() == [[False, True, True, False], [True, False, False, False]]
    assert targets.tolist() == [5, 6, 7]


def test_rows_first_fit_decreasing():
    lengths = [9, 3, 5, 4, 1, 6]
    layout = packing.rows(lengths)
    assert sorted(i for r in layout for i in r) == list(range(len(lengths)))
    assert all(sum(lengths[i] for i in r) <= max(lengths) for r in layout)
    assert layout == [[0], [5, 1], [2, 3], [4]]  # longest first, each into the first row with room
    batch = packing.collate([{"input_ids": [1] * n, "labels": [2] * n} for n in lengths], pad_id=0)
    assert int(batch["attention_mask"].sum()) == sum(lengths)
    assert (batch["labels"] != IGNORE).sum() == sum(lengths) - len(lengths)  # each example's first label dropped


class _NoPositions(torch.nn.Module):
    """A causal model whose forward drops position ids: packed examples would see each other."""

    def __init__(self, model):
        super().__init__()
        self.inner, self.config = model, model.config

    def get_input_embeddings(self):
        return self.inner.get_input_embeddings()

    def forward(self, input_ids, position_ids=None, **kw):
        return self.inner(input_ids=input_ids, **kw)


def test_pack_is_refused_where_attention_would_cross_examples(tiny):
    packing.check(load_model(str(tiny / "tiny-gpt-neox")), "causal")  # supported: no error
    with pytest.raises(QgenInputError, match="lets packed examples attend to each other") as e:
        packing.check(_NoPositions(load_model(str(tiny / "tiny-gpt-neox"))), "causal")
    assert "\n" not in str(e.value)
    with pytest.raises(QgenInputError, match="for causal models"):
        packing.check(load_model(str(tiny / "tiny-t5")), "seq2seq")


def test_training_packed_follows_the_unpacked_run(tmp_path, files, tiny, monkeypatch):
    """Same steps, same batches, SGD (linear in the gradients, see schedule.make_optimizer): the logged losses agree
    to float rounding (rel 1e-5: packed rows sum in another order)."""
    shapes, collate = [], packing.collate
    monkeypatch.setattr(packing, "collate", lambda feats, pad: shapes.append((len(feats), collate(feats, pad)[
        "input_ids"].shape[0])) or collate(feats, pad))
    short = tmp_path / "short.tsv"  # sources cut to different lengths, so that several fit beside the longest
    write_tsv(short, [dataclasses.replace(ex, source=ex.source[: 10 + 12 * i]) for i, ex in
                      enumerate(read_examples(files[0]))])
    runs = {}
    for pack in (False, True):
        out = th.prepare_run(tmp_path / f"p{pack}", tiny, "tiny-gpt-neox", dropout=0.0)
        train(th.settings(out, short, files[1], model="tiny-gpt-neox", max_steps=4, batch_size=6, optimizer="sgd",
                       group_by_length=False, max_len=400, pack=pack))
        runs[pack] = [r["loss"] for r in th.records(out, "train")]
    assert runs[True] == pytest.approx(runs[False], rel=1e-5)
    assert len(shapes) == 4 and any(rows < n for n, rows in shapes)  # every step packed, some into fewer rows


def test_pack_with_a_seq2seq_model_is_an_input_error(tmp_path, files, tiny):
    out = th.prepare_run(tmp_path / "t5", tiny, "tiny-t5")
    with pytest.raises(QgenInputError, match="--pack is for causal models"):
        train(th.settings(out, *files, max_steps=1, pack=True))
    with pytest.raises(QgenInputError, match="threads"):
        train(th.settings(out, *files, max_steps=1, threads=-1))
