"""Multiple-choice quiz items and their prompts: reading the data_prep JSON, the `[参考]` block, the truncation rule.

Items come from the eval-style JSON (`instruction` "…問題: Q\\n", `input` "0: A\\n1: B…", `output` "2: C") or the
train-style JSON (the numbered choices inside `instruction`). Prompt styles:
- `train` (default): the item is re-rendered with the train template of qgen.data.quiz (the exact text a quiz model
  was fine-tuned on), then passed through the checkpoint's prompt format (qgen.models.formats.templates);
- `record`: the record's own instruction and input, through the same prompt format (for zero-shot models).

The `[参考]` block (retrieved passages) goes before the question: in `train` style it ends the header, in `record`
style it is inserted before the first "問題:" of the instruction (or at its start). Its exact text is

    [参考]
    ・TITLE: PASSAGE
    ・PASSAGE

one line per passage ("TITLE: " only when the passage has a title), followed by a blank line.

Truncation rule (when the prompt has more tokens than the budget): the reference text is cut first — a span of
characters centred at 70% of its length is replaced by "…" and grown until the prompt fits (the head, where a passage
states its topic, is kept more than the tail). When no reference text is left, the question is cut the same way. The
header, the choices and the answer cue are never cut; if they alone do not fit, the token ids are cut from the left
(keeping BOS) and the item is flagged.
"""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from qgen.core.errors import QgenInputError
from qgen.core.text import cut_left, cut_to_fit
from qgen.data.examples import Example
from qgen.data.jsonfile import load_records
from qgen.data.quiz import QuizTemplate
from qgen.inference.task_prompts import count_tokens

if TYPE_CHECKING:  # torch: imported where a model is loaded
    from qgen.models.formats.causal import CausalFormat

REF_HEADER = "[参考]"
_CHOICE_RE = re.compile(r"^\s*([0-9０-９]+)\s*[:：]\s?(.*)$")
_QUESTION_RE = re.compile(r"問題[:：]\s?(.*?)(?:\n|$)")


@dataclass
class QuizItem:
    """One multiple-choice question as read from a quiz file."""

    id: str
    instruction: str
    input: str
    choices: list[str]
    labels: list[str]  # "0", "1", … as written in the data
    gold: int | None
    question: str
    file: str = ""
    extra: dict = field(default_factory=dict)


def parse_choices(text: str) -> tuple[list[str], list[str]]:
    """("0: A\\n1: B" →) labels and texts of the numbered lines."""
    labels, texts = [], []
    for line in text.splitlines():
        m = _CHOICE_RE.match(line)
        if m:
            labels.append(str(int(m.group(1).translate(str.maketrans("０１２３４５６７８９", "0123456789")))))
            texts.append(m.group(2).strip())
    return labels, texts


def _same_text(text: str) -> str:
    return unicodedata.normalize("NFKC", text).strip()


def check_choices(choices: list[str], path: str | Path, where: dict) -> None:
    """An empty choice, or two choices with the same text, is an error naming the record (the gold is then
    ambiguous, and scoring by choice text cannot tell them apart)."""
    seen: dict[str, int] = {}
    for i, choice in enumerate(choices):
        text = _same_text(choice)
        if not text:
            raise QgenInputError(f"choice {i} is empty", path=path, field="input", **where)
        if text in seen:
            raise QgenInputError(f"choices {seen[text]} and {i} are the same ({choice!r})", path=path, field="input",
                                 **where)
        seen[text] = i


def read_quiz(path: str | Path) -> list[QuizItem]:
    """Quiz items of an eval- or train-style JSON (list or JSON lines); a record without choices is an error."""
    path = Path(path)
    rows, unit = load_records(path)
    items, seen = [], set()
    for n, obj in rows:
        where: dict[str, Any] = {unit: n}
        if not isinstance(obj, dict):
            raise QgenInputError(f"expected an object, got {type(obj).__name__}", path=path, **where)
        for key in ("instruction", "output"):
            if not isinstance(obj.get(key), str):
                raise QgenInputError("missing or non-string", path=path, field=key, **where)
        inp = obj.get("input", "") or ""
        if not isinstance(inp, str):
            raise QgenInputError("expected a string", path=path, field="input", **where)
        labels, choices = parse_choices(inp) if inp.strip() else parse_choices(obj["instruction"].split("選択肢", 1)[-1])
        if len(choices) < 2:
            raise QgenInputError("fewer than 2 numbered choices ('N: text' lines)", path=path, field="input", **where)
        if labels != [str(i) for i in range(len(labels))]:
            raise QgenInputError(f"choice labels must be 0..{len(labels) - 1} in order, got {labels}", path=path,
                                 field="input", **where)
        check_choices(choices, path, where)
        gold_labels, gold_texts = parse_choices(obj["output"])
        if not gold_labels or int(gold_labels[0]) >= len(choices):
            raise QgenInputError("output is not 'N: text' with N a choice label", path=path, field="output", **where)
        gold = int(gold_labels[0])
        if gold_texts[0] and _same_text(gold_texts[0]) != _same_text(choices[gold]):
            raise QgenInputError(f"the gold answer {obj['output'].strip()!r} names choice {gold}, which is "
                                 f"{choices[gold]!r}: index and text disagree", path=path, field="output", **where)
        qid = str(obj.get("id", n))
        if qid in seen:
            raise QgenInputError(f"duplicate id {qid!r}", path=path, field="id", **where)
        seen.add(qid)
        m = _QUESTION_RE.search(obj["instruction"])
        question = m.group(1).strip() if m else obj["instruction"].strip()
        items.append(QuizItem(qid, obj["instruction"], inp, choices, labels, int(gold_labels[0]), question, str(path)))
    if not items:
        raise QgenInputError("no quiz records", path=path)
    return items


def reference_block(passages: list[dict]) -> str:
    """The `[参考]` block of retrieved passages put before a question ("" without passages)."""
    lines = [f"・{p['title']}: {p['text']}" if p.get("title") else f"・{p['text']}" for p in passages]
    return REF_HEADER + "\n" + "\n".join(lines) if lines else ""


class QuizPrompter:
    """Builds and fits prompts for one causal format (tokenizer, prompt format, BOS); `budget` is the most prompt
    tokens allowed (BOS included)."""

    def __init__(self, causal_format: CausalFormat, style: str = "train", template: QuizTemplate | None = None,
                 budget: int = 512):
        if style not in ("train", "record"):
            raise ValueError(f"unknown prompt style {style!r}; expected train or record")
        self.format, self.style, self.template, self.budget = causal_format, style, template or QuizTemplate(), budget

    def text(self, item: QuizItem, reference: str = "", question: str | None = None) -> str:
        """The prompt text before the model's answer (prompt format applied)."""
        question = item.question if question is None else question
        if self.style == "train":
            t = self.template
            labels = t.label_sep.join(item.labels)
            header = t.header.format(labels=labels) + (f"\n\n{reference}" if reference else "")
            choices = t.choice_sep.join(t.choice.format(label=lab, text=c) for lab, c in zip(item.labels, item.choices))
            source = t.train.format(header=header, labels=labels, question=question, choices=choices)
            return self.format.prompt(Example(item.id, source, ""))
        instruction = item.instruction
        if question != item.question:
            instruction = instruction.replace(item.question, question, 1)
        if reference:
            pos = instruction.find("問題")
            pos = 0 if pos < 0 else pos
            instruction = instruction[:pos] + reference + "\n\n" + instruction[pos:]
        return self.format.prompt(Example(item.id, instruction, "", item.input))

    def count(self, text: str) -> int:
        """Prompt tokens of `text` as the format encodes it (BOS included)."""
        return count_tokens(self.format, text)

    def build(self, item: QuizItem, passages: list[dict] | None = None, budget: int | None = None
              ) -> tuple[list[int], dict]:
        """Prompt token ids (BOS included) fitted to `budget` (default self.budget), and what was cut:
        {"cut_reference", "cut_question", "cut_left_tokens"} (counts of characters / tokens removed)."""
        _, ids, cuts = self.fit(item, passages, budget)
        return ids, cuts

    def fit(self, item: QuizItem, passages: list[dict] | None = None, budget: int | None = None
            ) -> tuple[str, list[int], dict]:
        """As `build`, with the fitted prompt text first (the text result.json records and joint scoring encodes)."""
        budget = self.budget if budget is None else budget
        block = reference_block(passages or [])
        body = block[len(REF_HEADER) + 1:] if block else ""
        question = item.question
        cuts = {"cut_reference": 0, "cut_question": 0, "cut_left_tokens": 0}

        def render(b: str, q: str) -> str:
            return self.text(item, f"{REF_HEADER}\n{b}" if b else "", q)

        body, cuts["cut_reference"], text = cut_to_fit(body, lambda b: render(b, question), self.count, budget)
        question, cuts["cut_question"], text = cut_to_fit(question, lambda q: render(body, q), self.count, budget)
        bos = self.format.bos
        ids = bos + self.format.tokenizer(text, add_special_tokens=False, verbose=False)["input_ids"]
        if len(ids) > budget:
            cuts["cut_left_tokens"] = len(ids) - budget
            ids = cut_left(ids, bos, budget)
        return text, ids, cuts
