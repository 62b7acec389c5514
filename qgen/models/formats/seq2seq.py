"""Encoder-decoder adapter (T5, mT5, anything AutoModelForSeq2SeqLM loads): source → target."""

from __future__ import annotations

import torch

from qgen.core.constants import HL, IGNORE
from qgen.data.examples import Example
from qgen.models.padding import pad_rows


def answer_cuts(adapter, examples, prompts: list[list[int]]) -> list[int]:
    """Indices of the examples whose `<hl>` answer was cut off by the length limit (`prompts`: the source / prompt ids
    each kept; a seq2seq source is cut from the right, a causal prompt from the left)."""
    return [i for i, (ex, ids) in enumerate(zip(examples, prompts)) if adapter.answer_cut(ex, ids)]


def cut_note(examples, cuts: list[int], adapter, shown: int = 5) -> str:
    """`N of M records (3 (id a), 17 (id b), …) have their <hl> answer beyond max_source_len L tokens` (records
    numbered from 1 in their file's order; max_len for a causal model)."""
    first = ", ".join(f"{i + 1} (id {examples[i].id})" for i in cuts[:shown]) + (", …" if len(cuts) > shown else "")
    name, value = adapter.length_limit
    return f"{len(cuts)} of {len(examples)} records ({first}) have their <hl> answer beyond {name} {value} tokens"


class Seq2SeqAdapter:
    kind = "seq2seq"

    def __init__(self, tokenizer, max_source_len: int = 512, max_target_len: int = 64, **_ignored):
        self.tokenizer = tokenizer
        self.max_source_len = max_source_len
        self.max_target_len = max_target_len

    def prompt(self, ex: Example) -> str:
        return ex.source + (f"\n{ex.input}" if ex.input else "")

    def encode(self, ex: Example) -> dict:
        """Token ids of source and target (the tokenizer appends EOS, as T5 was trained)."""
        tok = self.tokenizer
        src = tok(self.prompt(ex), truncation=True, max_length=self.max_source_len)["input_ids"]
        tgt = tok(text_target=ex.target, truncation=True, max_length=self.max_target_len)["input_ids"]
        return {"input_ids": src, "labels": tgt}

    @property
    def length_limit(self) -> tuple[str, int]:
        """The setting that cuts a source, and its value."""
        return "max_source_len", self.max_source_len

    @staticmethod
    def kept_prompt(feature: dict) -> list[int]:
        """The source ids an encoded example kept."""
        return feature["input_ids"]

    def answer_cut(self, ex: Example, ids: list[int]) -> bool:
        """True when `ids` (the encoded source) were cut by max_source_len before the end of the `<hl> answer <hl>`
        span: the model is then asked about an answer it never sees. Only a source cut to the limit is tokenised
        again (up to its closing <hl>)."""
        if len(ids) < self.max_source_len:
            return False
        prompt = self.prompt(ex)
        first = prompt.find(HL)
        if first < 0:
            return False
        second = prompt.find(HL, first + len(HL))
        end = (second if second >= 0 else first) + len(HL)
        return len(self.tokenizer(prompt[:end])["input_ids"]) > self.max_source_len

    def collate(self, features: list[dict]) -> dict:
        input_ids, attention_mask = pad_rows([f["input_ids"] for f in features], self.tokenizer.pad_token_id)
        labels, _ = pad_rows([f["labels"] for f in features], IGNORE)
        return {"input_ids": input_ids, "attention_mask": attention_mask, "labels": labels}

    def logits(self, model, batch: dict) -> tuple[torch.Tensor, torch.Tensor]:
        """Forward without the model's own loss; returns (logits, labels) aligned position by position."""
        labels = batch["labels"]
        base = getattr(model, "module", model)  # inside DDP / FSDP wrappers
        base = base.get_base_model() if hasattr(base, "get_base_model") else base
        decoder_input_ids = base.prepare_decoder_input_ids_from_labels(labels=labels)
        out = model(
            input_ids=batch["input_ids"], attention_mask=batch["attention_mask"], decoder_input_ids=decoder_input_ids
        )
        return out.logits, labels
