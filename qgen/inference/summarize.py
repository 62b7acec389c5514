"""Summaries and free instruction answers from a causal model, each within a character budget that is kept.

The budget of a summary is `ratio` of its source's characters, at least `minimum` (20% and 100 by default, as in the
reference work); a fixed `max_chars` replaces it (and is the only budget instruction answers have, none by default).
Per input: the prompt (qgen.inference.task_prompts) is fitted to the context left after the budget's tokens — the source is cut
by the 70% rule when it does not fit — then generation stops once the text passes the budget, and the text is ended
at the last sentence end within it (qgen.inference.length_budget). Every output record says its budget and length.

Inputs: JSONL or a JSON list with `id` and `text` (summarize) or `instruction` and optional `input` (instruct); a
reference (`reference`, or `summary` / `output`) makes it a `target`, so `qgen eval` scores ROUGE-L on the output file.
"""

from __future__ import annotations

import copy
import dataclasses
import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from qgen.core.console import progress as progress_bar
from qgen.core.errors import QgenInputError
from qgen.core.values import MAX_TOKENS
from qgen.data.examples import Example
from qgen.data.jsonfile import load_records
from qgen.inference.decoding import GenerationSettings
from qgen.inference.length_budget import BudgetStop, char_budget, keep_within, max_new_tokens_for
from qgen.inference.task_prompts import TASKS, TaskPrompts, count_tokens, fit_source, prompt_text

if TYPE_CHECKING:  # torch: imported where a model is loaded
    from qgen.inference.generation import Output
    from qgen.inference.loader import InferenceModel

REFERENCE_KEYS = {"summarize": ("reference", "summary"), "instruct": ("reference", "output")}
NO_BUDGET_TOKENS = 256  # instruct without a budget and without --max-new-tokens
MIN_SOURCE_TOKENS = 16  # room kept for the source when the budget's tokens would not leave any


@dataclass
class TaskInput:
    """One summary or instruction input as read from its file."""

    id: str
    text: str  # summarize: the text to summarise; instruct: the instruction
    input: str = ""  # instruct: the optional input the instruction is about
    reference: str | list[str] | None = None

    @property
    def source(self) -> str:
        """The text, then the input (if any) on a new line: what the record's `source` field shows."""
        return self.text + (f"\n{self.input}" if self.input else "")


def _reference(obj: dict, task: str, path: Path, where: dict) -> str | list[str] | None:
    """The record's reference output(s) under the task's keys, None when it has none."""
    for key in REFERENCE_KEYS[task]:
        value = obj.get(key)
        if value is None or value == "":
            continue
        if isinstance(value, str) or (isinstance(value, list) and value and all(isinstance(v, str) for v in value)):
            return value
        raise QgenInputError("expected a string or a non-empty list of strings", path=path, field=key, **where)
    return None


def read_inputs(path: str | Path, task: str) -> list[TaskInput]:
    """The inputs of a JSONL / JSON-list file; a record without its text (or a repeated id) is an error naming it."""
    path = Path(path)
    rows, unit = load_records(path)
    key = "text" if task == "summarize" else "instruction"
    out, seen = [], set()
    for n, obj in rows:
        where: dict[str, Any] = {unit: n}
        if not isinstance(obj, dict):
            raise QgenInputError(f"expected an object, got {type(obj).__name__}", path=path, **where)
        text = obj.get(key)
        if not isinstance(text, str) or not text.strip():
            raise QgenInputError("missing, empty or not a string", path=path, field=key, **where)
        inp = obj.get("input", "") if task == "instruct" else ""
        if not isinstance(inp, str):
            raise QgenInputError("expected a string", path=path, field="input", **where)
        qid = str(obj.get("id", n))
        if qid in seen:
            raise QgenInputError(f"duplicate id {qid!r}", path=path, field="id", **where)
        seen.add(qid)
        out.append(TaskInput(qid, text.strip(), inp.strip(), _reference(obj, task, path, where)))
    if not out:
        raise QgenInputError("no records", path=path)
    return out


@dataclass(frozen=True)
class BudgetRule:
    """How long outputs may be, and the prompt choices."""

    task: str = "summarize"
    ratio: float = 0.2
    minimum: int = 100
    max_chars: int | None = None  # a fixed budget: replaces ratio/minimum; instruct's only budget
    max_new_tokens: int | None = None  # a cap on the derived number (None: the budget's; NO_BUDGET_TOKENS without one)
    prompt_format: str = "saved"
    prompts: TaskPrompts = field(default_factory=TaskPrompts)

    def check(self) -> None:
        """ValueError naming the flag when the rule cannot give a budget."""
        if self.task not in TASKS:
            raise ValueError(f"unknown task {self.task!r}; expected one of {TASKS}")
        if not math.isfinite(self.ratio):
            raise ValueError(f"--summary-ratio must be a finite number, got {self.ratio}")
        if not self.ratio > 0 or self.minimum < 1 or (self.max_chars is not None and self.max_chars < 1):
            raise ValueError("--summary-ratio must be > 0, --summary-min and --max-chars at least 1")
        if self.max_new_tokens is not None and not 1 <= self.max_new_tokens <= MAX_TOKENS:
            raise ValueError(f"--max-new-tokens must be between 1 and {MAX_TOKENS}")

    def budget(self, item: TaskInput) -> int | None:
        """The characters `item`'s output may have (None: no budget, an instruction without --max-chars)."""
        if self.max_chars is not None:
            return self.max_chars
        return char_budget(len(item.text), self.ratio, self.minimum) if self.task == "summarize" else None


@dataclass
class Plan:
    """How one input is generated: its prompt, budget, token allowance and how much of its source was cut."""

    prompt: str
    budget: int | None
    max_new_tokens: int
    source_cut: int
    prompt_tokens: int


@dataclass
class _BudgetSettings(GenerationSettings):
    """The decoding settings plus the budget stop (Generator passes generate_kwargs() to model.generate)."""

    stop: object = None

    def generate_kwargs(self) -> dict:
        """The decoding settings' arguments plus the stop at the budget."""
        kw = super().generate_kwargs()
        if self.stop is not None:
            from transformers import StoppingCriteriaList  # transformers.generation pulls in peft and bitsandbytes

            kw["stopping_criteria"] = StoppingCriteriaList([self.stop])
        return kw


class BudgetedGenerator:
    """Summaries / instruction answers for many inputs with one loaded causal model."""

    def __init__(self, im: InferenceModel, rule: BudgetRule):
        from qgen.inference.generation import Generator  # torch: `qgen predict --task summarize --help` stays fast
        from qgen.models.formats.causal import CausalFormat  # torch, as above

        if im.kind != "causal" or not isinstance(im.format, CausalFormat):
            raise QgenInputError(f"--task {rule.task} needs a causal model (GPT-2, GPT-NeoX, Llama …); this one is "
                                 f"{im.kind}", path=im.path)
        rule.check()
        self.im, self.rule, self.causal_format = im, rule, im.format
        as_given = copy.copy(im.format)  # prompts arrive fully formatted: the generator must not wrap them again
        as_given.prompt_format = "raw"
        self.gen = Generator(dataclasses.replace(im, format=as_given))

    def _user(self, item: TaskInput, source: str, budget: int | None) -> str:
        p = self.rule.prompts
        if self.rule.task == "summarize":
            return p.user("summarize", text=source, length=budget)
        if item.input:
            return p.user("instruct", instruction=item.text, input=source)
        return p.user("instruct", instruction=source)

    def plan(self, item: TaskInput) -> Plan:
        """The prompt (source cut to fit) and the token allowance for `item`."""
        rule, causal_format = self.rule, self.causal_format
        budget = rule.budget(item)
        source = item.input if rule.task == "instruct" and item.input else item.text
        if budget is None:
            max_new = rule.max_new_tokens or NO_BUDGET_TOKENS
        else:
            per_char = (count_tokens(causal_format, source) - len(causal_format.bos)) / max(1, len(source))
            max_new = max_new_tokens_for(budget, per_char)
            max_new = min(max_new, rule.max_new_tokens) if rule.max_new_tokens else max_new
        render = lambda s: prompt_text(self._user(item, s, budget), rule.prompt_format, causal_format,  # noqa: E731
                                       rule.prompts.system)
        fixed, max_len = count_tokens(causal_format, render("")), causal_format.max_len
        if fixed + MIN_SOURCE_TOKENS + max_new > max_len:  # the budget's tokens leave no room for the source
            max_new = max_len - fixed - MIN_SOURCE_TOKENS
            if max_new < 1:
                raise QgenInputError(f"the prompt without its source has {fixed} tokens: nothing fits the model's "
                                     f"context of {max_len} tokens (max_len)", path=self.im.path)
        cut, removed, prompt = fit_source(source, render, causal_format, max_len - max_new)
        return Plan(prompt, budget, max_new, removed, count_tokens(causal_format, prompt))

    def run(self, items: list[TaskInput], settings: GenerationSettings | None = None, batch_size: int = 8,
            progress: bool = False) -> list[dict]:
        """One output record per input, in order. Inputs with the same token allowance are generated together,
        longest prompt first."""
        settings = settings or GenerationSettings()
        plans = [self.plan(it) for it in items]
        order = sorted(range(len(items)), key=lambda i: (-plans[i].max_new_tokens, -plans[i].prompt_tokens))
        batches: list[list[int]] = []
        current: list[int] = []
        for i in order:
            if current and (len(current) == batch_size or plans[current[0]].max_new_tokens != plans[i].max_new_tokens):
                batches.append(current)
                current = []
            current.append(i)
        if current:
            batches.append(current)
        bar = None
        if progress:
            bar = progress_bar(len(items), "generating", "ex")
        records: list[dict | None] = [None] * len(items)
        for idx in batches:
            for i, rec in zip(idx, self._batch([items[i] for i in idx], [plans[i] for i in idx], settings)):
                records[i] = rec
            if bar is not None:
                bar.update(len(idx))
        if bar is not None:
            bar.close()
        return records  # type: ignore[return-value]

    def _batch(self, items: list[TaskInput], plans: list[Plan], settings: GenerationSettings) -> list[dict]:
        max_new = plans[0].max_new_tokens
        examples = [Example(it.id, p.prompt, "") for it, p in zip(items, plans)]
        stop = None
        if any(p.budget is not None for p in plans):
            stop = BudgetStop(self.im.tokenizer, [self.gen.encode(ex, max_new) for ex in examples],
                              [p.budget for p in plans], self.gen.pad_id)
        base = {f.name: getattr(settings, f.name) for f in dataclasses.fields(GenerationSettings)}
        s = _BudgetSettings(**{**base, "max_new_tokens": max_new}, stop=stop)
        outputs = self.gen.generate(examples, s, batch_size=len(examples))
        return [self._record(it, p, out, max_new) for it, p, out in zip(items, plans, outputs)]

    def _record(self, item: TaskInput, plan: Plan, out: Output, max_new: int) -> dict:
        kept = [keep_within(t, plan.budget, len(ids) < max_new, self.im.lang)
                for t, ids in zip(out.texts, out.token_ids)]
        first = kept[0]
        rec: dict[str, Any] = {"id": item.id, "source": item.source, "prediction": first.text}
        if len(kept) > 1:
            rec["predictions"] = [k.text for k in kept]
        if item.reference is not None:
            rec["target"] = item.reference
        rec.update(budget=plan.budget, length=len(first.text),
                   within_budget=None if plan.budget is None else len(first.text) <= plan.budget,
                   stop=first.stop, generated_length=len(out.texts[0].strip()), source_cut=plan.source_cut,
                   max_new_tokens=max_new)
        return rec


def budget_metrics(records: list[dict]) -> dict:
    """Length figures of output records: the share within budget (of those with one), mean length and budget, how
    outputs ended (at a sentence end / cut hard / by the model) and how many sources were cut to fit."""
    n = len(records)
    with_budget = [r for r in records if r.get("budget") is not None]
    out: dict[str, float] = {"n": n, "with_budget": len(with_budget)}
    if with_budget:
        out["within_budget_rate"] = sum(1 for r in with_budget if r["length"] <= r["budget"]) / len(with_budget)
        out["mean_budget"] = sum(r["budget"] for r in with_budget) / len(with_budget)
    if n:
        out["mean_length"] = sum(r["length"] for r in records) / n
        for stop in ("eos", "sentence", "cut"):
            out[f"stop_{stop}_rate"] = sum(1 for r in records if r["stop"] == stop) / n
        out["source_cut_rate"] = sum(1 for r in records if r["source_cut"]) / n
    return out
