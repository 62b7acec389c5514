"""The encoder-decoder sequence format (T5, mT5, anything AutoModelForSeq2SeqLM loads): source → target."""

from __future__ import annotations

from typing import Any

import torch

from qgen.core.constants import HL, IGNORE
from qgen.data.examples import Example
from qgen.models.padding import pad_rows
from qgen.models.unwrap import unwrap


class Seq2SeqFormat:
    """Source ids to the encoder, target ids (with EOS) as labels, each cut to its own limit: a question is short,
    its paragraph long, and the decoder is fed the labels shifted right (the model's own rule)."""

    kind = "seq2seq"

    def __init__(self, tokenizer: Any, max_source_len: int = 512, max_target_len: int = 64):
        self.tokenizer = tokenizer
        self.max_source_len = max_source_len
        self.max_target_len = max_target_len

    def prompt(self, ex: Example) -> str:
        """The source text: the example's source, then its input (if any) on a new line."""
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
        """Sources padded with the pad id (and a mask), targets padded with IGNORE."""
        input_ids, attention_mask = pad_rows([f["input_ids"] for f in features], self.tokenizer.pad_token_id)
        labels, _ = pad_rows([f["labels"] for f in features], IGNORE)
        return {"input_ids": input_ids, "attention_mask": attention_mask, "labels": labels}

    def logits(self, model: torch.nn.Module, batch: dict) -> tuple[torch.Tensor, torch.Tensor]:
        """Forward without the model's own loss; returns (logits, labels) aligned position by position."""
        labels = batch["labels"]
        decoder_input_ids = unwrap(model, peft=True).prepare_decoder_input_ids_from_labels(labels=labels)
        out = model(
            input_ids=batch["input_ids"], attention_mask=batch["attention_mask"], decoder_input_ids=decoder_input_ids
        )
        return out.logits, labels
