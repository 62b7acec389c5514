"""Decoding settings shared by predict.py and generate.py: the defaults and their checks live only here (the flags are
derived from this dataclass by qgen.cli.dataclass_args).

Both tools once had their own defaults (greedy in predict.py, 4 beams in generate.py), so the same checkpoint wrote
different text in each. The defaults are the demo's: beam search with 4 beams and no repeated 3-gram — greedy search
on a weak model tends to loop on one token (`「「「…`). No torch here: `--help` and flag errors stay fast.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any

from qgen.core.values import MAX_TOKENS, SEED_MAX, check_finite, check_range


def _f(default: Any, help_: str, shown: str | None = None) -> Any:
    """A field with its flag's help (`shown`: the default as --help says it)."""
    return field(default=default, metadata={"help": help_, "shown": shown})


@dataclass
class GenerationSettings:
    """How candidates are decoded; the flags of predict / generate / serve are derived from these fields."""

    num_beams: int | None = _f(None, "beam width (1 = greedy)", shown="4, or 1 with --do-sample")
    num_return_sequences: int = _f(1, "outputs per input (at most --num-beams unless sampling)")
    max_new_tokens: int = _f(64, "tokens generated at most")
    do_sample: bool = _f(False, "sample instead of beam search")
    temperature: float = _f(1.0, "sampling temperature")
    top_p: float = _f(1.0, "nucleus sampling mass")
    top_k: int = _f(50, "sample among the k most likely tokens")
    seed: int | None = _f(None, "seed for sampling")
    length_penalty: float = _f(1.0, "beam search length penalty")
    no_repeat_ngram_size: int = _f(3, "forbid repeating n-grams of this size (0 = off)")

    def __post_init__(self) -> None:
        if self.num_beams is None:  # beam search by default; sampling samples (beam sampling only when asked for)
            self.num_beams = 1 if self.do_sample else 4
        self.check()

    @property
    def beams(self) -> int:
        """num_beams as decoding uses it (set in __post_init__; None would mean its default)."""
        return self.num_beams if self.num_beams is not None else 1 if self.do_sample else 4

    def check(self) -> None:
        """ValueError with the reason when the settings cannot decode (run again by Generator: fields may change)."""
        try:
            check_finite(self)
            check_range("max_new_tokens", self.max_new_tokens, 1, MAX_TOKENS)  # more: memory for that many positions
            check_range("temperature", self.temperature, above=0)  # 0 divides the logits by zero when sampling
            check_range("top_p", self.top_p, 1e-9, 1)
            check_range("top_k", self.top_k, 0)
            if self.seed is not None:
                check_range("seed", self.seed, 0, SEED_MAX)
        except ValueError as e:  # named as its flag: `--top-p: must be …`
            name, _, reason = str(e).partition(": ")
            raise ValueError(f"--{name.replace('_', '-')}: {reason}") from None
        if self.beams < 1 or self.num_return_sequences < 1:
            raise ValueError("num_beams and num_return_sequences must be at least 1")
        if not self.do_sample and self.num_return_sequences > self.beams:
            raise ValueError(f"num_return_sequences ({self.num_return_sequences}) cannot exceed num_beams "
                             f"({self.num_beams}) without sampling")
        if self.no_repeat_ngram_size < 0:
            raise ValueError("no_repeat_ngram_size must be 0 (off) or positive")

    def generate_kwargs(self) -> dict:
        """Keyword arguments for `model.generate` (sampling knobs only when sampling, so none are silently ignored)."""
        kw: dict[str, Any] = {"num_beams": self.num_beams, "num_return_sequences": self.num_return_sequences,
              "max_new_tokens": self.max_new_tokens, "do_sample": self.do_sample}
        if self.do_sample:
            kw.update(temperature=self.temperature, top_p=self.top_p, top_k=self.top_k)
        if self.beams > 1 and self.length_penalty != 1.0:
            kw["length_penalty"] = self.length_penalty
        if self.no_repeat_ngram_size:
            kw["no_repeat_ngram_size"] = self.no_repeat_ngram_size
        return kw


@dataclass(frozen=True)
class SpanSettings:
    """How the span reader (qgen.inference.span_reader; `predict.py --answer-spans`) cuts, lists and scores."""

    sentences: int = _f(2, "sentences of the paragraph read: those sharing most with the question")
    question_weight: float = _f(0.5, "weight of log P(question | span in <hl> marks) beside log P(span | question, "
                                     "sentences); 0 = the QA head alone")
    proximity_weight: float = _f(4.0, "weight of -log(1 + characters between the span and the nearest of the "
                                      "question's character bigrams in its sentence)")
    length_weight: float = _f(6.0, "weight of log(span length in characters): offsets the QA head's sum of token "
                                   "log probabilities, which favours short spans")
    ignore_answer_type: bool = _f(False, "do not match the answer type (by default a question asking for a "
                                          "number — 何年, いつ, いくら, 何人 … — is answered with a span holding one, "
                                          "any other with a span holding none, when there is such a span)")
    shortlist: int = _f(32, "spans (best by the QA head and the two weights above) also scored by the question term")
    max_words: int = _f(8, "longest candidate span, in MeCab words")

    def __post_init__(self):
        for name in ("sentences", "shortlist", "max_words"):
            if getattr(self, name) < 1:
                raise ValueError(f"--{name.replace('_', '-')} must be at least 1")
        for name in ("question_weight", "proximity_weight", "length_weight"):
            value = getattr(self, name)
            if not math.isfinite(value) or value < 0:
                raise ValueError(f"--{name.replace('_', '-')} must be a finite number >= 0")
