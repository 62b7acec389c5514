"""`qgen build-model`: an untrained model + tokenizer from texts; the locality and copy priors of an untrained T5."""

import json

import pytest
import torch
from transformers import AutoConfig, AutoModelForSeq2SeqLM, AutoTokenizer, T5Config
from transformers.models.t5.modeling_t5 import T5Attention

from qgen.cli import build_model
from qgen.models import position_prior


def _bucket(config, distance, bidirectional):
    return int(T5Attention._relative_position_bucket(torch.tensor(distance), bidirectional=bidirectional,
                                                     num_buckets=config.relative_attention_num_buckets,
                                                     max_distance=config.relative_attention_max_distance))


def test_each_sharp_head_prefers_its_offset_over_every_other_distance():
    config = T5Config(num_heads=8)
    for bidirectional, heads in ((True, position_prior.ENCODER_HEADS), (False, position_prior.DECODER_HEADS)):
        table = position_prior.bias_table(config, bidirectional, heads)
        distances = range(-40, 41) if bidirectional else range(-40, 1)  # a decoder sees no future
        for h, (target, slope) in enumerate(heads):
            bias = {d: float(table[_bucket(config, d, bidirectional), h]) for d in distances}
            assert bias[target] == 0.0
            if slope >= 1:  # sharp: every other distance is at least one slope lower
                assert all(b <= -slope for d, b in bias.items() if d != target), (bidirectional, h)
            else:  # wide (ALiBi-like) or flat: never increasing with the distance from the target
                far = [bias[d] for d in sorted(distances, key=lambda d: abs(d - target))]
                assert all(a >= b for a, b in zip(far, far[1:])), (bidirectional, h)


def test_prior_is_for_t5_only():
    class Fake:
        config = type("C", (), {"model_type": "gpt2"})()

    with pytest.raises(ValueError, match="T5"):
        position_prior.apply_locality_prior(Fake())


@pytest.fixture(scope="module")
def texts(tmp_path_factory, jsquad_valid):
    data = json.loads(jsquad_valid.read_text(encoding="utf-8"))["data"]
    rows = [(q["id"], p["context"], q["question"]) for a in data[:40] for p in a["paragraphs"] for q in p["qas"]]
    path = tmp_path_factory.mktemp("texts") / "texts.tsv"
    path.write_text("".join(f"{i}\t{c}\t{q}\n" for i, c, q in rows), encoding="utf-8")
    return path


def test_build_model_with_and_without_the_prior(texts, tmp_path, capsys):
    arch = tmp_path / "arch.yaml"
    arch.write_text("d_model: 64\nd_kv: 8\nnum_heads: 8\nd_ff: 128\nnum_layers: 2\nnum_decoder_layers: 2\n")
    out = {}
    for prior in ("none", "locality"):
        out[prior] = tmp_path / prior
        assert build_model.main(["--texts", str(texts), "--arch-config", str(arch), "--vocab-size", "1500",
                                 "--position-prior", prior, "--output", str(out[prior])]) == 0
        assert f"written {out[prior]}" in capsys.readouterr().out
    config = AutoConfig.from_pretrained(out["none"])
    assert (config.d_model, config.num_layers, config.vocab_size) == (64, 2, 1500)
    assert "<hl>" in AutoTokenizer.from_pretrained(out["none"]).get_vocab()
    plain, prior = (AutoModelForSeq2SeqLM.from_pretrained(out[k]) for k in ("none", "locality"))
    enc = "encoder.block.0.layer.0.SelfAttention.relative_attention_bias.weight"
    a, b = plain.state_dict(), prior.state_dict()
    assert torch.equal(b[enc], position_prior.bias_table(config, True, position_prior.ENCODER_HEADS))
    assert not torch.equal(a[enc], b[enc])
    # the same seed: every other weight is the one the plain build has
    assert all(torch.equal(a[k], b[k]) for k in a if "relative_attention_bias" not in k)
    assert json.loads((out["locality"] / "qgen_tiny.json").read_text())["position_prior"] == "locality"


def test_unknown_prior_is_a_usage_error(texts, tmp_path):
    with pytest.raises(SystemExit) as e:
        build_model.main(["--texts", str(texts), "--position-prior", "alibi", "--output", str(tmp_path / "m")])
    assert e.value.code == 2


def test_a_vocabulary_smaller_than_the_characters_is_one_error_line(texts, tmp_path, capsys):
    assert build_model.main(["--texts", str(texts), "--vocab-size", "500", "--output", str(tmp_path / "m")]) == 2
    err = capsys.readouterr().err
    assert err.startswith("error: --vocab-size 500 is smaller than the ") and "Traceback" not in err
    assert not (tmp_path / "m").exists()


def _copy_accuracy(model_dir, texts) -> float:
    """Teacher-forced: the share of a sentence's tokens predicted from the token before it, sentence → itself."""
    tok, model = AutoTokenizer.from_pretrained(model_dir), AutoModelForSeq2SeqLM.from_pretrained(model_dir).eval()
    lines = texts.read_text(encoding="utf-8").splitlines()[:16]
    sentences = [line.split("\t")[2] for line in lines]  # the questions: short, with repeated pieces rare
    enc = tok(sentences, return_tensors="pt", padding=True)
    labels = enc.input_ids.masked_fill(enc.input_ids == tok.pad_token_id, -100)
    with torch.no_grad():
        logits = model(**enc, labels=labels).logits
    scored = labels[:, 1:] != -100  # the first token has nothing before it to continue from
    return float((logits.argmax(-1)[:, 1:] == labels[:, 1:])[scored].float().mean())


def test_the_copy_prior_continues_spans_of_the_input_before_any_training(texts, tmp_path):
    """The induction circuit of `--position-prior copy` works at step 0 (no optimiser step, so the figures are exact
    up to float summation order; the thresholds are far from both measured values: 0.9+ and 0.0x)."""
    out = {}
    for prior in ("none", "copy"):
        out[prior] = tmp_path / prior
        assert build_model.main(["--texts", str(texts), "--vocab-size", "3000", "--position-prior", prior,
                                 "--output", str(out[prior])]) == 0
    assert _copy_accuracy(out["copy"], texts) > 0.7
    assert _copy_accuracy(out["none"], texts) < 0.2
    assert json.loads((out["copy"] / "qgen_tiny.json").read_text())["position_prior"] == "copy"


def test_the_copy_prior_names_what_it_needs(texts, tmp_path, capsys):
    arch = tmp_path / "arch.yaml"
    arch.write_text("d_model: 64\nd_kv: 4\nnum_heads: 8\n")  # 8 × 4 ≠ 64
    assert build_model.main(["--texts", str(texts), "--arch-config", str(arch), "--vocab-size", "3000",
                             "--position-prior", "copy", "--output", str(tmp_path / "m")]) == 2
    err = capsys.readouterr().err
    assert err.startswith("error: ") and "num_heads × d_kv = d_model" in err and "Traceback" not in err
    assert not (tmp_path / "m").exists()
