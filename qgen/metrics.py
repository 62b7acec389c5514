"""`import qgen.metrics`: the notebook API in one module — corpus metrics, sentence scores and the hallucination checker.

The name the project was specified with ("importing `qgen.metrics` in notebooks"); the code lives in the evaluation
layer (qgen.evaluation.metrics, .hallucination, .records) and is only gathered here, so `import qgen.metrics` and
`from qgen import metrics` give this same module. Nothing heavy loads at import: sacrebleu, fugashi and rouge-score on
first use, GiNZA/spaCy (the hallucination names) when first looked up — no torch, no transformers (a contract checks it).
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING

from qgen.evaluation.metrics import (
    ROUGE_TYPES,
    SCALES,
    bleu,
    bleu_with_signature,
    char_f1,
    char_f1_scores,
    exact_match,
    exact_match_scores,
    normalize_answer,
    rouge,
    rouge_scores,
    rouge_signature,
    sentence_bleu,
)
from qgen.evaluation.records import evaluate_records, read_predictions, reference_from_source

if TYPE_CHECKING:  # for readers and type checkers; at run time `__getattr__` below imports them on first use
    from qgen.evaluation.hallucination import (
        QUESTION_STOP_WORDS,
        hallucination,
        hallucination_details,
        hallucination_rate,
        hallucinations,
    )

_HALLUCINATION = ("hallucination", "hallucinations", "hallucination_details", "hallucination_rate",
                  "QUESTION_STOP_WORDS")

__all__ = [
    # corpus metrics (one figure for a data set)
    "exact_match", "char_f1", "bleu", "bleu_with_signature", "rouge", "rouge_signature",
    # sentence scores (one figure per example)
    "exact_match_scores", "char_f1_scores", "sentence_bleu", "rouge_scores",
    # the hallucination checker (GiNZA content words not in the source)
    "hallucination", "hallucinations", "hallucination_details", "hallucination_rate", "QUESTION_STOP_WORDS",
    # prediction files as predict.py writes them
    "read_predictions", "reference_from_source", "evaluate_records",
    "normalize_answer", "ROUGE_TYPES", "SCALES",
]


def __getattr__(name: str):
    """The hallucination checker's names, imported on first use (GiNZA machinery stays out of `import qgen.metrics`)."""
    if name in _HALLUCINATION:
        return getattr(importlib.import_module("qgen.evaluation.hallucination"), name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(__all__))
