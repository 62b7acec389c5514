"""A character budget for generated text that is kept, not just asked for.

Asking a model for "at most N characters" is not enough: the reference work's model did not keep the length. Here the
budget is enforced in three places:
- `max_new_tokens_for`: generation gets only as many tokens as the budget needs (estimated from the tokenizer's
  characters per token on the source) plus a margin, so no time goes into text that would be cut;
- `BudgetStop`: a row stops as soon as its text is longer than the budget (more tokens could only be cut again);
- `keep_within`: the text is ended at the last sentence end (。！？, and ! ? after NFKC; `.` for Korean and English)
  inside the budget, never mid-sentence when such an end exists; only text without any sentence end in the budget is
  cut hard at the budget. So every output has at most `budget` characters.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

SENTENCE_ENDS = {"ja": "。！？!?", "ko": "。！？!?.", "en": "。！？!?."}
CLOSERS = "」』）)】〉》\"'’”"  # a closing bracket or quote right after a sentence end stays with its sentence
MARGIN = 1.25  # extra tokens over the estimate: the output's characters per token differ from the source's
EXTRA_TOKENS = 8
ROUND_TO = 16  # max_new_tokens is rounded up to a multiple of this, so inputs with similar budgets share a batch


def char_budget(source_chars: int, ratio: float = 0.2, minimum: int = 100) -> int:
    """The summary budget in characters: `ratio` of the source (rounded down), at least `minimum`."""
    if not ratio > 0 or minimum < 1:
        raise ValueError("the summary ratio must be > 0 and the minimum at least 1 character")
    return max(minimum, int(source_chars * ratio))


def max_new_tokens_for(budget: int, tokens_per_char: float) -> int:
    """Tokens to allow for `budget` characters at `tokens_per_char` (measured on the source), with a margin."""
    need = math.ceil(budget * max(tokens_per_char, 1e-3) * MARGIN) + EXTRA_TOKENS
    return math.ceil(need / ROUND_TO) * ROUND_TO


@dataclass(frozen=True)
class Kept:
    """An output kept within its budget, and how it ended."""

    text: str  # at most `budget` characters
    stop: str  # "eos" (the model ended within the budget), "sentence" (ended at a sentence end), "cut" (hard cut)


def keep_within(text: str, budget: int | None, finished: bool, lang: str = "ja") -> Kept:
    """`text` kept within `budget` characters: whole when the model ended it (`finished`) within the budget, else up
    to the last sentence end inside the budget, else its first `budget` characters."""
    text = text.strip()
    if budget is None:
        return Kept(text, "eos" if finished else "cut")
    if finished and len(text) <= budget:
        return Kept(text, "eos")
    head = text[:budget]
    ends = SENTENCE_ENDS.get(lang, SENTENCE_ENDS["ja"])
    last = max(head.rfind(c) for c in ends)
    if last < 0:
        return Kept(head.rstrip(), "cut")
    end = last + 1
    while end < len(head) and head[end] in CLOSERS:
        end += 1
    return Kept(head[:end], "sentence")


class BudgetStop:
    """A transformers stopping criterion: a row is done once its new text is longer than its budget in characters.

    `prompts` are the batch's prompt ids, left-padded with `pad_id` by the generator to the longest; every generated
    row (one per prompt, or per beam / sample of it) starts with one of them, which is how a row finds its budget.
    So each row stops exactly where it would stop alone, whatever else is in its batch (beam search included, where
    a stopped beam becomes a finished hypothesis). Rows are decoded the way the generator decodes them.
    """

    def __init__(self, tokenizer: Any, prompts: list[list[int]], budgets: list[int | None], pad_id: int):
        import numpy as np  # numpy, torch: only once a budgeted generation runs

        self.tokenizer = tokenizer
        self.prompt_len = max(len(p) for p in prompts)
        pad = [pad_id]
        self.budgets = {np.asarray(pad * (self.prompt_len - len(p)) + p, dtype=np.int64).tobytes():
                        math.inf if b is None else b for p, b in zip(prompts, budgets)}

    def __call__(self, input_ids: Any, scores: Any, **kwargs: Any) -> Any:
        """transformers' StoppingCriteria call: (batch,) bools, True where a row is done."""
        import torch  # as above

        rows = input_ids.detach().cpu()
        heads = rows[:, : self.prompt_len].numpy().astype("int64")
        texts = self.tokenizer.batch_decode(rows[:, self.prompt_len:].tolist(), skip_special_tokens=True,
                                            clean_up_tokenization_spaces=False)
        done = [len(t.strip()) > self.budgets.get(h.tobytes(), math.inf) for h, t in zip(heads, texts)]
        return torch.tensor(done, dtype=torch.bool, device=input_ids.device)
