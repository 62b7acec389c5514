"""Tiny offline models and the adapters: what becomes input ids and labels, for every architecture."""

import json

import pytest
import torch
from transformers import AutoModelForCausalLM, AutoModelForSeq2SeqLM, AutoTokenizer

from qgen.core.text import normalize
from qgen.data.examples import Example
from qgen.models.formats.causal import CausalFormat
from qgen.models.formats.sequence import make_format
from qgen.models.formats.templates import format_prompt
from qgen.models.input_spec import InputSpec
from qgen.models.loading import load_model, load_tokenizer, model_kind, resolve
from qgen.models.tiny import TINY_MODELS


@pytest.fixture(scope="module")
def texts(jsquad_valid):
    data = json.loads(jsquad_valid.read_text(encoding="utf-8"))
    return [normalize(p["context"]) for a in data["data"] for p in a["paragraphs"]][:200]


@pytest.fixture(scope="module")
def tiny_dir(tmp_path_factory, texts):
    d = tmp_path_factory.mktemp("tiny")
    for name in TINY_MODELS:
        resolve(name, texts, d)
    return d


def test_tiny_models_load_with_plain_transformers(tiny_dir):
    for name in TINY_MODELS:
        path = tiny_dir / name
        tok = AutoTokenizer.from_pretrained(path)
        cls = AutoModelForSeq2SeqLM if name == "tiny-t5" else AutoModelForCausalLM
        model = cls.from_pretrained(path)
        assert model_kind(model.config) == ("seq2seq" if name == "tiny-t5" else "causal")
        ids = tok("<hl> 甲府市 <hl>", add_special_tokens=False)["input_ids"]
        assert ids.count(tok.convert_tokens_to_ids("<hl>")) == 2  # <hl> is one token, not "<", "h", "l", ">"
        assert model.get_input_embeddings().weight.shape[0] >= len(tok)


def test_tiny_is_cached(tiny_dir, texts):
    before = (tiny_dir / "tiny-t5" / "model.safetensors").stat().st_mtime_ns
    resolve("tiny-t5", texts, tiny_dir)
    assert (tiny_dir / "tiny-t5" / "model.safetensors").stat().st_mtime_ns == before


def test_seq2seq_encode_and_logits(tiny_dir):
    path = str(tiny_dir / "tiny-t5")
    tok = load_tokenizer(path)
    sequence_format = make_format("seq2seq", tok, InputSpec(max_source_len=32, max_target_len=8))
    ex = Example("1", "answer: 甲府市 context: 山梨県の県庁所在地は甲府市です。", "山梨県の県庁所在地はどこ?")
    feat = sequence_format.encode(ex)
    assert feat["labels"][-1] == tok.eos_token_id and len(feat["labels"]) <= 8
    assert len(feat["input_ids"]) <= 32
    batch = sequence_format.collate([feat, sequence_format.encode(Example("2", "短い", "はい"))])
    logits, labels = sequence_format.logits(load_model(path), batch)
    assert logits.shape[:2] == labels.shape
    assert (labels[1] == -100).sum() == labels.shape[1] - len(sequence_format.encode(Example("2", "短い", "はい"))["labels"])


@pytest.mark.parametrize("name", ["tiny-gpt2", "tiny-gpt-neox", "tiny-llama"])
def test_causal_prompt_tokens_carry_no_loss(tiny_dir, name):
    path = str(tiny_dir / name)
    tok = load_tokenizer(path)
    sequence_format = make_format("causal", tok, InputSpec(max_len=64, prompt_format="opencalm"))
    ex = Example("1", "問題: 日本の首都は?", "0: 東京")
    feat = sequence_format.encode(ex)
    prompt_ids = sequence_format.encode_prompt(ex)
    target_ids = tok("0: 東京", add_special_tokens=False)["input_ids"] + [tok.eos_token_id]
    assert feat["input_ids"] == prompt_ids + target_ids
    assert feat["labels"] == [-100] * len(prompt_ids) + target_ids
    assert tok.decode(prompt_ids, skip_special_tokens=True).rstrip().endswith("### 回答:")

    model = load_model(path)
    batch = sequence_format.collate([feat])
    logits, labels = sequence_format.logits(model, batch)
    # the loss only sees target positions: changing a prompt-only label position changes nothing
    n_loss = int((labels != -100).sum())
    assert n_loss == len(target_ids)
    assert labels[0, len(prompt_ids) - 1 :].tolist() == target_ids
    # gradients flow back into the prompt embeddings through attention (the prompt is context, not loss)
    loss = torch.nn.functional.cross_entropy(logits.reshape(-1, logits.shape[-1]), labels.reshape(-1), ignore_index=-100)
    loss.backward()
    assert torch.isfinite(loss)


def test_causal_truncation_keeps_cue_and_target(tiny_dir):
    tok = load_tokenizer(str(tiny_dir / "tiny-llama"))
    sequence_format = CausalFormat(tok, max_len=40, prompt_format="opencalm", min_target_len=4)
    ex = Example("1", "長い文脈。" * 50, "答え")
    feat = sequence_format.encode(ex)
    assert len(feat["input_ids"]) <= 40
    assert feat["input_ids"][0] == tok.bos_token_id
    kept_prompt = [i for i, label in zip(feat["input_ids"], feat["labels"]) if label == -100]
    assert tok.decode(kept_prompt, skip_special_tokens=True).rstrip().endswith("### 回答:")
    assert feat["labels"][-1] == tok.eos_token_id


def test_templates_do_not_repeat_cue():
    ex = Example("1", "問題: x\n選択肢\n\n0: a\n\n\n### 回答:\n", "0: a")
    assert format_prompt(ex, "opencalm").count("### 回答:") == 1
    alpaca = format_prompt(Example("1", "Translate", "x", input="犬"), "alpaca")
    assert "### Instruction:\nTranslate\n\n### Input:\n犬\n\n### Response:\n" in alpaca
    with pytest.raises(ValueError):
        format_prompt(ex, "nope")
