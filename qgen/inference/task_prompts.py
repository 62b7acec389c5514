"""Prompts for summaries and free instruction answers with causal models: the texts, the named formats, the fitting.

The texts (`TaskPrompts`) are the system prompt and one user-turn template per task; the defaults are in Japanese so
that the model answers in Japanese, the system prompt being the seed's (`qgen.models.formats.templates.JA_SYSTEM`), and the
summary request names its budget: "以下の文章を{length}文字以内で要約してください。". A YAML/JSON file with any of the
fields replaces them (`--prompt-template`).

The prompt format wraps them as the model was trained: `ja-chat` is the seed model's own
`### システム: …\\n### ユーザー: …\\n### アシスタント: `; `chat` is the tokenizer's chat template (with a system turn);
`opencalm`, `alpaca`, `raw` are qgen's other formats (no system prompt); `saved` (default) is the checkpoint's own.

A source too long for the model's context (prompt + the budget's tokens) is cut by the quiz prompts' rule
(`qgen.core.text.cut_to_fit`: the middle around 70% of its length becomes "…", grown until the prompt fits).
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from qgen.core.errors import QgenInputError
from qgen.core.text import cut_to_fit
from qgen.data.examples import Example
from qgen.data.template.records import YDict, load_yaml
from qgen.models.formats.templates import FORMATS, JA_SYSTEM, format_prompt, resolve_format

if TYPE_CHECKING:  # torch: `qgen predict --task summarize --help` stays fast
    from qgen.models.formats.causal import CausalFormat

TASKS = ("summarize", "instruct")
PROMPT_FORMATS = ("saved", *(f for f in FORMATS if f != "auto"))  # chat, the named templates, axolotl-alpaca


@dataclass(frozen=True)
class TaskPrompts:
    """The text of the prompts. summarize: {text} {length}; instruct: {instruction}; instruct_input: also {input}."""

    system: str = JA_SYSTEM
    summarize: str = "以下の文章を{length}文字以内で要約してください。\n\n{text}"
    instruct: str = "{instruction}"
    instruct_input: str = "{instruction}\n\n{input}"

    def user(self, task: str, *, text: str = "", instruction: str = "", input: str = "", length: int | None = None
             ) -> str:
        """The user turn for `task`."""
        if task == "summarize":
            return self.summarize.format(text=text, length=length)
        if input:
            return self.instruct_input.format(instruction=instruction, input=input)
        return self.instruct.format(instruction=instruction)


_PLACEHOLDERS = {"system": set(), "summarize": {"text", "length"}, "instruct": {"instruction"},
                 "instruct_input": {"instruction", "input"}}


def load_prompts(path: str | Path) -> TaskPrompts:
    """TaskPrompts with the fields a YAML/JSON mapping gives; an unknown field or placeholder names its line."""
    data = load_yaml(path)  # JSON is YAML too
    if not isinstance(data, dict):
        raise QgenInputError(f"expected a mapping with any of {', '.join(_PLACEHOLDERS)}", path=path)
    for key, value in data.items():
        line = data.line_of(key) if isinstance(data, YDict) else None
        if key not in _PLACEHOLDERS:
            raise QgenInputError(f"unknown prompt field (fields: {', '.join(_PLACEHOLDERS)})", path=path, line=line,
                                 field=str(key))
        if not isinstance(value, str):
            raise QgenInputError(f"expected text, got {type(value).__name__}", path=path, line=line, field=key)
        probe = {name: "x" for name in _PLACEHOLDERS[key]}
        try:
            value.format(**probe)
        except (KeyError, IndexError, ValueError) as e:
            raise QgenInputError(f"bad placeholder {e} (this field has: "
                                 f"{', '.join('{' + p + '}' for p in sorted(_PLACEHOLDERS[key])) or 'none'})",
                                 path=path, line=line, field=key) from None
    return dataclasses.replace(TaskPrompts(), **data)


def prompt_text(user: str, prompt_format: str, causal_format: CausalFormat, system: str) -> str:
    """The whole prompt before the answer: `user` (and `system`) in `prompt_format` ("saved": the checkpoint's)."""
    name = causal_format.prompt_format if prompt_format == "saved" else prompt_format
    tokenizer = causal_format.tokenizer
    return format_prompt(Example("", user, ""), resolve_format(name, tokenizer), tokenizer, system=system)


def count_tokens(causal_format: CausalFormat, text: str) -> int:
    """Prompt tokens as the causal format encodes them (its BOS included)."""
    ids = causal_format.tokenizer(text, add_special_tokens=False, verbose=False)["input_ids"]
    return len(causal_format.bos) + len(ids)


def fit_source(source: str, render: Callable[[str], str], causal_format: CausalFormat,
               budget_tokens: int) -> tuple[str, int, str]:
    """(the source cut by the 70% rule so that `render(source)` fits `budget_tokens`, characters cut, the prompt)."""
    return cut_to_fit(source, render, lambda t: count_tokens(causal_format, t), budget_tokens)
