"""Task tokens such as `<hl>`: added to the tokenizer as special tokens (never split), embeddings resized to fit.

They are registered as *extra special tokens* (transformers v5's name for the former additional special tokens) so
they survive `save_pretrained`/`from_pretrained` and are dropped by `decode(skip_special_tokens=True)`. Tokens the
vocabulary already has keep their id (tiny models and some hub tokenizers ship `<hl>`); only new ones grow the
embedding matrix. Under LoRA the ids returned here are made trainable (see `qgen.models.lora`).
"""

from __future__ import annotations

import logging
from typing import Any

log = logging.getLogger(__name__)


def add_special_tokens(tokenizer: Any, tokens: list[str]) -> list[int]:
    """Register `tokens` as special tokens; return their ids (new or existing), in the order given."""
    tokens = [t for t in dict.fromkeys(tokens) if t]
    if not tokens:
        return []
    for t in tokens:
        if not t.strip() or t != t.strip():
            raise ValueError(f"special token {t!r} must be non-empty and have no surrounding spaces")
    added = tokenizer.add_special_tokens({"extra_special_tokens": tokens}, replace_extra_special_tokens=False)
    ids = tokenizer.convert_tokens_to_ids(tokens)
    for t, i in zip(tokens, ids):
        pieces = tokenizer(f"a{t}b", add_special_tokens=False)["input_ids"]
        if i == tokenizer.unk_token_id or pieces.count(i) != 1:  # e.g. a normaliser rewriting the token's text
            raise ValueError(f"special token {t!r} is split by the tokenizer: {tokenizer.convert_ids_to_tokens(pieces)}")
    if added:
        log.info("added %d special token(s) %s; tokenizer now has %d tokens", added, tokens, len(tokenizer))
    return list(ids)


def resize_embeddings(model: Any, tokenizer: Any) -> bool:
    """Grow the embeddings (and untied output layer) when the tokenizer has ids beyond them; True if resized.

    Embedding matrices padded past the vocabulary (T5: 32128 rows for 32100 tokens) are left alone: the new ids fit.
    New rows are initialised around the mean of the old ones (transformers' `mean_resizing`).
    """
    rows = model.get_input_embeddings().weight.shape[0]
    if len(tokenizer) <= rows:
        return False
    model.resize_token_embeddings(len(tokenizer), mean_resizing=True)
    log.info("resized token embeddings %d -> %d", rows, len(tokenizer))
    return True
