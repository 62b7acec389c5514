"""Tiny tokenizers (and random-weight models) with the tokenizer conventions of the models users bring to qgen.

qgen's own tiny models all use a sentencepiece tokenizer trained on the data; the real models differ in ways that
matter to label masking, padding, BOS handling and loglik tokenisation. Each builder here trains a small tokenizer on
real text (sentencepiece or `tokenizers`, a few seconds) and writes a Hugging Face directory laid out like the hub
repository (tokenizer files + tokenizer_config.json + config.json + random weights), so `AutoTokenizer` /
`AutoModel*.from_pretrained` and everything in qgen load it exactly as they would load the real model. The settings
follow the models' public tokenizer configs:

| name | like | tokenizer | special tokens |
| --- | --- | --- | --- |
| opencalm | cyberagent/open-calm-* | GPTNeoXTokenizer, byte-level BPE (`Ġ` = space), NFC, no prefix space | `<|endoftext|>` = BOS = EOS = UNK (id 0), no pad token, no BOS added |
| rinna-gpt2 | rinna/japanese-gpt2-medium | T5Tokenizer (sentencepiece unigram; the hub card asks for `use_fast=False`) | `<unk>` `<s>` `</s>` `[PAD]` `[CLS]` `[SEP]` `[MASK]`; encoding appends `</s>`, no BOS |
| sonoisa-t5 | sonoisa/t5-base-japanese | T5Tokenizer (sentencepiece unigram), T5 encoder-decoder | pad 0, eos 1, unk 2, no BOS |
| llama2 | meta-llama/Llama-2-7b-hf | LlamaTokenizer (sentencepiece BPE, byte fallback), `legacy=True` | unk 0, BOS 1 (added), EOS 2, no pad token |

Vocabularies are small (the ids of ordinary pieces are not the real ones); the special-token ids above are.
"""

from __future__ import annotations

import io
import json
import string
from pathlib import Path

CONVENTIONS = ("opencalm", "rinna-gpt2", "sonoisa-t5", "llama2")
CAUSAL = ("opencalm", "rinna-gpt2", "llama2")
VOCAB = 2000


def _texts(texts: list[str]) -> list[str]:
    from qgen.models.formats.templates import coverage_text

    # digits (ASCII and full-width) and the prompt cues must be spellable, as in every real Japanese vocabulary
    return [t for t in texts if t.strip()] + [string.printable.strip(), "０１２３４５６７８９", *coverage_text()] * 3


def _spm(texts: list[str], model_type: str, ids: dict, symbols: list[str] = (), byte_fallback: bool = False) -> bytes:
    import sentencepiece as spm

    out = io.BytesIO()
    spm.SentencePieceTrainer.train(
        sentence_iterator=iter(_texts(texts)), model_writer=out, vocab_size=VOCAB, model_type=model_type,
        character_coverage=0.9995, byte_fallback=byte_fallback, hard_vocab_limit=False, num_threads=1,
        minloglevel=2, user_defined_symbols=list(symbols), max_sentence_length=16384, **ids)
    return out.getvalue()


def _write_json(path: Path, obj: dict) -> None:
    path.write_text(json.dumps(obj, ensure_ascii=False, indent=1), encoding="utf-8")


def _opencalm_tokenizer(texts: list[str], out: Path) -> None:
    from tokenizers import Tokenizer, decoders, models, normalizers, pre_tokenizers, processors, trainers

    tok = Tokenizer(models.BPE())
    tok.normalizer = normalizers.NFC()
    tok.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    tok.decoder = decoders.ByteLevel()
    tok.post_processor = processors.ByteLevel(trim_offsets=False)
    trainer = trainers.BpeTrainer(vocab_size=VOCAB, special_tokens=["<|endoftext|>"],
                                  initial_alphabet=pre_tokenizers.ByteLevel.alphabet(), show_progress=False)
    tok.train_from_iterator(_texts(texts), trainer)
    tok.save(str(out / "tokenizer.json"))
    _write_json(out / "tokenizer_config.json", {
        "tokenizer_class": "GPTNeoXTokenizer", "add_prefix_space": False, "bos_token": "<|endoftext|>",
        "eos_token": "<|endoftext|>", "unk_token": "<|endoftext|>", "pad_token": None, "model_max_length": 2048})


def _sentencepiece_tokenizer(name: str, texts: list[str], out: Path) -> None:
    if name == "rinna-gpt2":
        model = _spm(texts, "unigram", {"unk_id": 0, "bos_id": 1, "eos_id": 2, "pad_id": 3,
                                        "pad_piece": "[PAD]"}, ["[CLS]", "[SEP]", "[MASK]"])
        config = {"tokenizer_class": "T5Tokenizer", "bos_token": "<s>", "eos_token": "</s>", "unk_token": "<unk>",
                  "pad_token": "[PAD]", "cls_token": "[CLS]", "sep_token": "[SEP]", "mask_token": "[MASK]",
                  "do_lower_case": True, "extra_ids": 0, "additional_special_tokens": []}
        (out / "spiece.model").write_bytes(model)
    elif name == "sonoisa-t5":
        model = _spm(texts, "unigram", {"pad_id": 0, "eos_id": 1, "unk_id": 2, "bos_id": -1})
        config = {"tokenizer_class": "T5Tokenizer", "eos_token": "</s>", "unk_token": "<unk>", "pad_token": "<pad>",
                  "extra_ids": 0, "additional_special_tokens": []}
        (out / "spiece.model").write_bytes(model)
    else:  # llama2
        model = _spm(texts, "bpe", {"unk_id": 0, "bos_id": 1, "eos_id": 2, "pad_id": -1}, byte_fallback=True)
        config = {"tokenizer_class": "LlamaTokenizer", "add_bos_token": True, "add_eos_token": False, "legacy": True,
                  "bos_token": "<s>", "eos_token": "</s>", "unk_token": "<unk>", "pad_token": None,
                  "clean_up_tokenization_spaces": False}
        (out / "tokenizer.model").write_bytes(model)
    config["model_max_length"] = 1024
    _write_json(out / "tokenizer_config.json", config)


def _model_config(name: str, vocab_size: int, layers: int = 2, width: int = 64):
    import transformers as tf

    heads = max(2, width // 32)
    if name == "opencalm":
        return tf.GPTNeoXConfig(vocab_size=vocab_size, hidden_size=width, num_hidden_layers=layers,
                                num_attention_heads=heads, intermediate_size=4 * width, max_position_embeddings=1024,
                                bos_token_id=0, eos_token_id=0, use_parallel_residual=False)
    if name == "rinna-gpt2":
        return tf.GPT2Config(vocab_size=vocab_size, n_embd=width, n_layer=layers, n_head=heads, n_positions=1024,
                             bos_token_id=1, eos_token_id=2)
    if name == "sonoisa-t5":
        return tf.T5Config(vocab_size=vocab_size, d_model=width, d_kv=width // heads, d_ff=4 * width,
                           num_layers=layers, num_heads=heads, pad_token_id=0, eos_token_id=1,
                           decoder_start_token_id=0, feed_forward_proj="relu")
    return tf.LlamaConfig(vocab_size=vocab_size, hidden_size=width, intermediate_size=3 * width,
                          num_hidden_layers=layers, num_attention_heads=heads, num_key_value_heads=heads,
                          max_position_embeddings=1024, bos_token_id=1, eos_token_id=2, pad_token_id=None)


def build(name: str, texts: list[str], out, *, layers: int = 2, width: int = 64, seed: int = 0,
          std: float = 0.1) -> Path:
    """`out` as a hub-like directory for convention `name` (reused when already there). Weights are drawn with
    `std` (wider than the default init, so an untrained model's choices have clear margins)."""
    import torch
    import transformers as tf

    if name not in CONVENTIONS:
        raise ValueError(f"unknown convention {name!r}; choose from {CONVENTIONS}")
    out = Path(out)
    if (out / "config.json").is_file():
        return out
    out.mkdir(parents=True, exist_ok=True)
    if name == "opencalm":
        _opencalm_tokenizer(texts, out)
    else:
        _sentencepiece_tokenizer(name, texts, out)
    tok = tf.AutoTokenizer.from_pretrained(out)
    config = _model_config(name, len(tok), layers, width)
    torch.manual_seed(seed)
    cls = tf.AutoModelForSeq2SeqLM if name == "sonoisa-t5" else tf.AutoModelForCausalLM
    model = cls.from_config(config)
    g = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for p in model.parameters():
            if p.dim() >= 2:
                p.copy_(torch.randn(p.shape, generator=g) * std)
    model.save_pretrained(out)
    return out
