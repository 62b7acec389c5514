"""The decoder-only sequence format (GPT-2, GPT-NeoX/OpenCALM, Llama …): prompt + target + EOS in one sequence.

Prompt tokens are labelled -100 so only the target (and its EOS) carries loss (unless `train_on_inputs`). When a sequence is too long the prompt
is cut from the left (keeping its end: the cue the answer follows) and the target is never cut below `min_target_len`.
"""

from __future__ import annotations

from typing import Any

import torch

from qgen.core.constants import HL, IGNORE
from qgen.core.text import cut_left
from qgen.data.examples import Example
from qgen.models.formats.templates import adds_bos, format_prompt
from qgen.models.padding import pad_rows


class CausalFormat:
    """Prompt (in `prompt_format`), target and EOS as one sequence, labels IGNORE on the prompt: the model learns to
    continue a prompt with the target, and a too long example loses the start of its prompt, never its target."""

    kind = "causal"

    def __init__(self, tokenizer: Any, max_len: int = 512, prompt_format: str = "auto", min_target_len: int = 16,
                 train_on_inputs: bool = False):
        self.tokenizer = tokenizer
        self.train_on_inputs = train_on_inputs  # the loss also covers the prompt (Axolotl's train_on_inputs)
        self.max_len = max_len
        self.prompt_format = prompt_format
        self.min_target_len = min_target_len
        # Llama-style tokenizers add BOS themselves; GPT-2 style ones don't — ask the tokenizer once.
        self.bos = [tokenizer.bos_token_id] if adds_bos(tokenizer) else []

    def prompt(self, ex: Example) -> str:
        """The text before the target in this format's prompt format ("" for an example without a source)."""
        return format_prompt(ex, self.prompt_format, self.tokenizer) if ex.source else ""

    def encode_prompt(self, ex: Example) -> list[int]:
        """The prompt's ids as training sees them (BOS first where the tokenizer adds one)."""
        text = self.prompt(ex)
        ids = self.tokenizer(text, add_special_tokens=False)["input_ids"] if text else []
        return self.bos + ids

    def encode(self, ex: Example) -> dict:
        """Prompt + target + EOS ids, cut to max_len from the prompt's left; labels IGNORE on the prompt."""
        prompt = self.encode_prompt(ex)
        target = self.tokenizer(ex.target, add_special_tokens=False)["input_ids"] + [self.tokenizer.eos_token_id]
        if len(prompt) + len(target) > self.max_len:
            target = target[: max(self.min_target_len, self.max_len - len(prompt))]
            keep = self.max_len - len(target)
            prompt = cut_left(prompt, self.bos, keep)
        ids = prompt + target
        return {"input_ids": ids, "labels": (prompt if self.train_on_inputs else [IGNORE] * len(prompt)) + target}

    @property
    def length_limit(self) -> tuple[str, int]:
        """The setting that cuts a prompt, and its value."""
        return "max_len", self.max_len

    @staticmethod
    def kept_prompt(feature: dict) -> list[int]:
        """The prompt ids an encoded example kept (those labelled IGNORE)."""
        return feature["input_ids"][: feature["labels"].count(IGNORE)]

    def answer_cut(self, ex: Example, kept: list[int]) -> bool:
        """True when cutting the prompt from the left to `kept` removed the opening `<hl>` of its answer (the model
        is then asked about an answer it cannot find)."""
        removed = len(self.encode_prompt(ex)) - len(kept)
        text = self.prompt(ex)
        first = text.find(HL)
        if removed <= 0 or first < 0:
            return False
        return removed > len(self.tokenizer(text[:first], add_special_tokens=False)["input_ids"])

    def collate(self, features: list[dict]) -> dict:
        """Rows right-padded with the pad id (and a mask), labels with IGNORE."""
        input_ids, attention_mask = pad_rows([f["input_ids"] for f in features], self.tokenizer.pad_token_id)
        labels, _ = pad_rows([f["labels"] for f in features], IGNORE)  # as long as the ids, row by row
        return {"input_ids": input_ids, "attention_mask": attention_mask, "labels": labels}

    def logits(self, model: torch.nn.Module, batch: dict) -> tuple[torch.Tensor, torch.Tensor]:
        """Forward; returns (logits, labels) shifted so position t predicts token t+1."""
        out = model(input_ids=batch["input_ids"], attention_mask=batch["attention_mask"])
        return out.logits[:, :-1], batch["labels"][:, 1:]
