"""How a quiz prompt and its answers become token ids: the choice labels' single-token spellings (`label_token_ids`,
for choice-token scoring) and the two loglik tokenisations (`apart`, qgen's own; `joint`, lm-evaluation-harness 0.4's
`harness_encode_pair`), with `default_tokenization` choosing between them for a model. Used by qgen.quiz.scoring.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from qgen.core.constants import SAVED_NAME
from qgen.models.loading import resolve

TOKENIZATIONS = ("apart", "joint")
METHODS = ("choice-token", "loglik", "loglik-norm", "generate")  # how qgen.quiz.scoring picks a choice (torch-free here)
_FULLWIDTH = str.maketrans("0123456789", "０１２３４５６７８９")
_SPACE_MARKS = ("", "▁", "Ġ", " ")


def harness_encode_pair(tokenizer: Any, context: str, continuation: str, add_bos_token: bool | None = None
                        ) -> tuple[list[int], list[int]]:
    """lm-evaluation-harness 0.4 (TemplateLM._encode_pair and HFLM.tok_encode, causal models; read in 0.4.13):
    trailing whitespace of the context moves to the front of the continuation; the context is encoded alone and the
    continuation is what encoding context + continuation adds past the context's length. The model is then fed
    context ids + continuation ids, even when the joint encoding merged tokens across the boundary.

    Special tokens as the harness's `add_bos_token` model argument: None (its default) = the tokenizer's own
    `encode` default (Llama-style tokenizers put BOS first, GPT-NeoX ones add nothing, T5-style ones such as rinna's
    GPT-2 append `</s>`), except that a text already starting with the BOS (else EOS) token's text gets none;
    True / False = special tokens on / off."""
    n_spaces = len(context) - len(context.rstrip())
    if n_spaces > 0:
        continuation = context[-n_spaces:] + continuation
        context = context[:-n_spaces]
    prefix = tokenizer.bos_token_id if tokenizer.bos_token_id is not None else tokenizer.eos_token_id
    prefix_text = tokenizer.decode(prefix) if prefix is not None else None

    def encode(text: str) -> list[int]:
        """`text`'s ids as the harness's model encodes them."""
        if add_bos_token is not None:
            return tokenizer.encode(text, add_special_tokens=add_bos_token)
        if prefix_text and text.startswith(prefix_text):
            return tokenizer.encode(text, add_special_tokens=False)
        return tokenizer.encode(text)

    whole = encode(context + continuation)
    ctx = encode(context)
    return ctx, whole[len(ctx):]


def default_tokenization(model: str) -> str:
    """`apart` for a checkpoint qgen trained (it has qgen_config.yaml: apart is how it saw its answers), else `joint`
    (hub models and other checkpoints are compared with published, harness-made figures)."""
    try:
        path = Path(resolve(str(model)))
    except ValueError:
        return "joint"
    return "apart" if (path / SAVED_NAME).is_file() else "joint"


def label_token_ids(tokenizer: Any, labels: list[str]) -> list[list[int]]:
    """Every single-token spelling of each label: ASCII / full-width digit, with or without a leading space marker,
    plus the first token the tokenizer itself produces for "N: …" when that token is the label, possibly with the
    punctuation after it (a BPE vocabulary such as Llama-2's merges "▁2:": that is the token a model fine-tuned on
    "2: text" answers learnt to emit)."""
    vocab = tokenizer.get_vocab()
    out = []
    for label in labels:
        ids = []
        for digits in (label, label.translate(_FULLWIDTH)):
            for mark in _SPACE_MARKS:
                tid = vocab.get(mark + digits)
                if tid is not None and tid not in ids:
                    ids.append(tid)
        first = tokenizer(f"{label}: x", add_special_tokens=False)["input_ids"][:1]
        spelt = tokenizer.decode(first).strip() if first else ""
        if first and first[0] not in ids and spelt.startswith(label) and not any(
                c.isalnum() for c in spelt[len(label):]):
            ids.append(first[0])
        if not ids:
            raise ValueError(f"choice label {label!r} is not a single token of this tokenizer; use --scoring loglik")
        out.append(ids)
    flat = [i for ids in out for i in ids]
    if len(flat) != len(set(flat)):
        raise ValueError("two choice labels share a token")
    return out
