"""Built-in offline models (`tiny-t5`, `tiny-gpt2`, `tiny-gpt-neox`, `tiny-llama`) for the demo and the tests.

Each is a small config with random weights plus a sentencepiece unigram tokenizer trained on the training texts, saved
as an ordinary Hugging Face directory, so everything downstream loads it exactly like `sonoisa/t5-base-japanese`.
The tokenizers mirror the real models: T5 and GPT-2 use a T5-style sentencepiece tokenizer (as rinna's GPT-2 does),
Llama and GPT-NeoX a Llama-style one with byte fallback. `<hl>` and `[SEP]` are single tokens.
"""

from __future__ import annotations

import io
import json
import logging
import string
from collections.abc import Iterable
from pathlib import Path
from typing import TYPE_CHECKING

from qgen.core.errors import PathArg
from qgen.core.files import atomic_dir
from qgen.models.formats.templates import coverage_text

if TYPE_CHECKING:  # transformers: imported where a tiny model is built, named here for its types only
    from transformers import PretrainedConfig

log = logging.getLogger(__name__)

TINY_MODELS = ("tiny-t5", "tiny-gpt2", "tiny-gpt-neox", "tiny-llama")
SPECIAL_SYMBOLS = ["<hl>", "[SEP]"]
PAD, EOS, UNK, BOS = 0, 1, 2, 3


def is_tiny(name: PathArg) -> bool:
    """Whether `name` is built locally from training texts (never loaded from the hub)."""
    return str(name) in TINY_MODELS


def _train_spiece(texts: Iterable[str], vocab_size: int) -> bytes:
    import sentencepiece as spm  # only when a tiny tokenizer is trained

    texts = [t for t in texts if t and t.strip()]
    if not texts:
        raise ValueError("cannot train a tokenizer on no text")
    # Cover ASCII, full-width digits and the prompt templates even when the training texts lack them (T5-style
    # tokenizers have no byte fallback: a missing "#" would turn every "### 回答:" cue into <unk>).
    texts += [string.printable.strip(), "０１２３４５６７８９", *coverage_text()] * 3
    model = io.BytesIO()
    spm.SentencePieceTrainer.train(
        sentence_iterator=iter(texts),
        model_writer=model,
        vocab_size=vocab_size,
        model_type="unigram",
        character_coverage=0.9995,
        byte_fallback=True,
        pad_id=PAD,
        eos_id=EOS,
        unk_id=UNK,
        bos_id=BOS,
        user_defined_symbols=SPECIAL_SYMBOLS,
        hard_vocab_limit=False,
        max_sentence_length=16384,
        num_threads=2,
        minloglevel=2,
    )
    return model.getvalue()


def _config(name: str, vocab_size: int) -> PretrainedConfig:
    import transformers as tf  # transformers, torch: only when a tiny model is built

    common = {"vocab_size": vocab_size, "pad_token_id": PAD, "eos_token_id": EOS}
    if name == "tiny-t5":
        return tf.T5Config(
            d_model=128, d_kv=32, d_ff=512, num_layers=2, num_decoder_layers=2, num_heads=4,
            feed_forward_proj="relu", decoder_start_token_id=PAD, **common,
        )
    if name == "tiny-gpt2":
        return tf.GPT2Config(n_positions=1024, n_embd=128, n_layer=2, n_head=4, bos_token_id=BOS, **common)
    if name == "tiny-gpt-neox":
        return tf.GPTNeoXConfig(
            hidden_size=128, num_hidden_layers=2, num_attention_heads=4, intermediate_size=512,
            max_position_embeddings=1024, bos_token_id=BOS, **common,
        )
    if name == "tiny-llama":
        return tf.LlamaConfig(
            hidden_size=128, intermediate_size=384, num_hidden_layers=2, num_attention_heads=4, num_key_value_heads=2,
            max_position_embeddings=1024, bos_token_id=BOS, **common,
        )
    raise ValueError(f"unknown tiny model {name!r}; choose from {TINY_MODELS}")


def build_tiny(name: str, texts: Iterable[str], out_dir: PathArg, vocab_size: int = 8000, seed: int = 0) -> Path:
    """Build (or reuse) `out_dir/name`: a saved tokenizer + randomly initialised model trained on nothing yet."""
    return build_untrained(name, texts, Path(out_dir) / name, vocab_size=vocab_size, seed=seed)


def build_untrained(name: str, texts: Iterable[str], out: PathArg, vocab_size: int = 8000, seed: int = 0,
                    config_overrides: dict | None = None, position_prior: str = "none") -> Path:
    """Build (or reuse) `out`: a sentencepiece tokenizer trained on `texts` and a randomly initialised model of the
    `name` architecture, its config changed by `config_overrides` (e.g. `{"d_model": 256}`: qgen-small-ja's recipe);
    `position_prior="locality"` starts a T5's relative-position biases local (qgen.models.position_prior)."""
    import torch  # as above
    import transformers as tf  # transformers, torch: only when a tiny model is built

    out = Path(out)
    if (out / "config.json").is_file() and (out / "tokenizer_config.json").is_file():
        return out
    spiece = _train_spiece(texts, vocab_size)
    with atomic_dir(out) as tmp:
        (tmp / "spiece.model").write_bytes(spiece)
        (tmp / "tokenizer.model").write_bytes(spiece)
        if name in ("tiny-t5", "tiny-gpt2"):
            tok = tf.T5Tokenizer.from_pretrained(tmp, extra_ids=0, additional_special_tokens=[])
        else:
            tok = tf.LlamaTokenizer.from_pretrained(tmp, add_bos_token=True, add_eos_token=False, legacy=False)
        tok.pad_token, tok.eos_token, tok.unk_token = "<pad>", "</s>", "<unk>"
        if name != "tiny-t5":
            tok.bos_token = "<s>"
        tok.model_max_length = 1024
        config = _config(name, len(tok))
        for key, value in (config_overrides or {}).items():
            if not hasattr(config, key):
                raise ValueError(f"{type(config).__name__} has no setting {key!r}")
            setattr(config, key, value)
        torch.manual_seed(seed)
        model_cls = tf.AutoModelForSeq2SeqLM if name == "tiny-t5" else tf.AutoModelForCausalLM
        model = model_cls.from_config(config)
        if position_prior == "locality":
            from qgen.models.position_prior import apply_locality_prior  # torch + transformers: lazy, as above

            apply_locality_prior(model)
        elif position_prior == "copy":
            from qgen.models.position_prior import apply_copy_prior  # as above

            apply_copy_prior(model)
        elif position_prior != "none":
            raise ValueError(f"unknown position prior {position_prior!r} (none | locality | copy)")
        model.save_pretrained(tmp)
        tok.save_pretrained(tmp)
        (tmp / "spiece.model").unlink()
        (tmp / "tokenizer.model").unlink(missing_ok=True)
        (tmp / "qgen_tiny.json").write_text(json.dumps({"name": name, "vocab_size": len(tok), "seed": seed,
                                                        "config_overrides": config_overrides or {},
                                                        "position_prior": position_prior}))
    log.info("built %s (%d-token tokenizer) in %s", name, len(tok), out)
    return out
