"""Axolotl's `alpaca` dataset prompt, the same text as Axolotl builds, so a model trained there is prompted alike.

Restated (not copied) from Axolotl's `AlpacaPrompter` with `PromptStyle.INSTRUCT` (the style of `type: alpaca`):
axolotl-ai-cloud/axolotl, src/axolotl/prompters.py, commit 067b021c8b87a9e5e380b9173c704cf7340e30f5. Its preamble
differs with and without an input ("…, paired with an input that provides further context. …"), unlike qgen's own
`alpaca` format, and its cue is always written (qgen's formats drop a cue the data already ends with).
Axolotl's `completion` type has no prompt at all: the text is the whole target (qgen's JSONL `{"text"}` data).
"""

from __future__ import annotations

AXOLOTL_ALPACA = "axolotl-alpaca"  # the prompt_format name

SYSTEM_INPUT = ("Below is an instruction that describes a task, paired with an input that provides further context. "
                "Write a response that appropriately completes the request.")
SYSTEM_NO_INPUT = "Below is an instruction that describes a task. Write a response that appropriately completes the request."
TURN_INPUT = "### Instruction:\n{instruction}\n\n### Input:\n{input}\n\n### Response:\n"
TURN_NO_INPUT = "### Instruction:\n{instruction}\n\n### Response:\n"


def axolotl_alpaca_prompt(instruction: str, input_text: str = "") -> str:
    """The text before the output: system block ("{system}\\n\\n") then the turn; an empty input counts as none."""
    if input_text:
        return f"{SYSTEM_INPUT}\n\n" + TURN_INPUT.format(instruction=instruction, input=input_text)
    return f"{SYSTEM_NO_INPUT}\n\n" + TURN_NO_INPUT.format(instruction=instruction)


def coverage_text() -> list[str]:
    """The fixed text, for a tokenizer trained for a tiny model to spell it (kept out of templates.coverage_text: the
    built-in tiny models, whose tokenizers the tests pin, stay as they were)."""
    return [axolotl_alpaca_prompt("x", "y"), axolotl_alpaca_prompt("x")]
