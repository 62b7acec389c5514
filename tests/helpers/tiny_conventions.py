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

from pathlib import Path

from qgen.models.stand_ins import write_tokenizer

CONVENTIONS = ("opencalm", "rinna-gpt2", "sonoisa-t5", "llama2")
CAUSAL = ("opencalm", "rinna-gpt2", "llama2")
VOCAB = 2000


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
    write_tokenizer(name, texts, out, VOCAB)
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
