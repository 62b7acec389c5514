"""Prompt formats for causal models: the prompt is everything before the target; only the target carries loss.

Named plain templates are the formats the seed models were trained with. `chat` uses the tokenizer's own chat template
(instruct models: gemma-it, llama-3-instruct …). `auto` picks `chat` when the tokenizer has a template, else `opencalm`.
A template's cue is not repeated when the data already ends with it (quiz train-style prompts end with `### 回答:`).
"""

from __future__ import annotations

from typing import Any

from qgen.core.constants import ALPACA_PREAMBLE
from qgen.data.examples import Example
from qgen.models.formats.axolotl_prompts import AXOLOTL_ALPACA, axolotl_alpaca_prompt

JA_SYSTEM = "あなたは優秀なアシスタントです。"

# name -> (template with {source}, {input_block} and optionally {system}, cue that ends the prompt)
TEMPLATES = {
    "raw": ("{source}{input_block}", ""),
    "opencalm": ("{source}{input_block}", "\n### 回答:\n"),
    "alpaca": (ALPACA_PREAMBLE + "\n\n### Instruction:\n{source}{input_block}", "\n\n### Response:\n"),
    "ja-chat": ("### システム: {system}\n### ユーザー: {source}{input_block}", "\n### アシスタント: "),
}
INPUT_BLOCKS = {"alpaca": "\n\n### Input:\n{input}", "raw": "{input}"}
FORMATS = ("auto", "chat", *TEMPLATES, AXOLOTL_ALPACA)


def resolve_format(name: str, tokenizer: Any) -> str:
    """The prompt format `name` stands for (`auto`: the tokenizer's chat template when it has one, else opencalm)."""
    if name not in FORMATS:
        raise ValueError(f"unknown prompt format {name!r}; choose from {FORMATS}")
    if name == "auto":
        return "chat" if getattr(tokenizer, "chat_template", None) else "opencalm"
    return name


def format_prompt(ex: Example, name: str, tokenizer: Any = None, system: str | None = None) -> str:
    """The text before the target for `ex` under prompt format `name`.

    `system` replaces the system prompt of the formats that have one (ja-chat: JA_SYSTEM; chat: none by default,
    else a system turn); the other formats have no place for it and leave it out.
    """
    name = resolve_format(name, tokenizer)
    if name == "chat":
        return chat_prompt(ex, tokenizer, system)
    if name == AXOLOTL_ALPACA:  # Axolotl's text as it is: no cue dropped, its own preamble with an input
        return axolotl_alpaca_prompt(ex.source, ex.input)
    template, cue = TEMPLATES[name]
    input_block = INPUT_BLOCKS.get(name, "\n{input}").format(input=ex.input) if ex.input else ""
    text = template.format(source=ex.source, input_block=input_block, system=JA_SYSTEM if system is None else system)
    if cue and not text.rstrip().endswith(cue.strip()):
        text += cue
    return text


def adds_bos(tokenizer: Any) -> bool:
    """Whether the tokenizer puts BOS in front of plain text itself (Llama, Gemma) or not (GPT-2 style)."""
    bos = getattr(tokenizer, "bos_token_id", None)
    return bos is not None and tokenizer("a")["input_ids"][:1] == [bos]


def chat_prompt(ex: Example, tokenizer: Any, system: str | None = None) -> str:
    """One user turn (after a system turn when `system` is given) through the tokenizer's chat template, ending with
    the assistant cue. A template without a system role (Gemma's) gets the system text at the top of the user turn.

    Templates such as Gemma's and Llama-3's write the BOS text themselves; when the tokenizer also adds BOS the
    leading one is dropped here, so the ids start with exactly one BOS.
    """
    if tokenizer is None or not getattr(tokenizer, "chat_template", None):
        raise ValueError("prompt format 'chat' needs a tokenizer with a chat_template; use --prompt-format "
                         "opencalm, alpaca, ja-chat or raw for base models")
    from jinja2 import TemplateError  # ~0.1 s, and only chat templates need it

    content = ex.source + (f"\n{ex.input}" if ex.input else "")
    messages = [{"role": "user", "content": content}]
    try:
        if system:
            messages = [{"role": "system", "content": system}, *messages]
        text = tokenizer.apply_chat_template(messages, tokenize=False, add_generation_prompt=True)
    except TemplateError:  # no system role: the system text opens the user turn instead
        messages = [{"role": "user", "content": f"{system}\n\n{content}"}]
        text = tokenizer.apply_chat_template(messages, tokenize=False, add_generation_prompt=True)
    bos = getattr(tokenizer, "bos_token", None)
    if bos and text.startswith(bos) and adds_bos(tokenizer):
        text = text[len(bos):]
    return text


def coverage_text() -> list[str]:
    """Every template's fixed text, so a tokenizer trained for a tiny model can spell the cues."""
    return [ALPACA_PREAMBLE, JA_SYSTEM] + [(t + c).replace("{system}", JA_SYSTEM) for t, c in TEMPLATES.values()]
