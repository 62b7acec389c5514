"""Text metrics for Japanese QA and question generation, comparable with published figures.

Inputs everywhere: `preds` is a list of strings; `refs` is a list of the same length whose items are a string or a
non-empty list of strings (several references: each prediction is scored against its best one).

Edge cases (the same for every corpus metric): an empty `preds` list, a length mismatch, a non-string item or an empty
reference list raise ValueError/TypeError naming the position. Empty strings are valid: EM/F1 follow the SQuAD rule
(empty vs empty scores 1, empty vs non-empty 0), ROUGE follows rouge-score (0 when either side has no tokens), BLEU
follows sacrebleu (an empty prediction contributes length but no n-grams).

Scales: BLEU is 0-100 (sacrebleu's convention, comparable with published BLEU); every other metric is in [0, 1].
`SCALES` says which, and `qgen eval` prints and saves it beside each value.

Nothing heavy is imported at module level: sacrebleu, fugashi and rouge-score load on first use, and
`hallucination` / `hallucination_rate` (from qgen.evaluation.hallucination, GiNZA/spaCy) only when first looked up here.
"""

from __future__ import annotations

import collections
import functools
import unicodedata
from collections.abc import Sequence
from importlib.metadata import version
from typing import TYPE_CHECKING, Any, overload

from qgen.evaluation.segmentation import SUDACHI_MODES, RougeTokenizer, bleu_tag, check, describe, segmented

if TYPE_CHECKING:  # for readers and type checkers; at run time `__getattr__` below imports them on first use
    from qgen.evaluation.hallucination import hallucination, hallucination_rate

__all__ = [
    "normalize_answer",
    "exact_match",
    "exact_match_scores",
    "char_f1",
    "char_f1_scores",
    "bleu",
    "bleu_with_signature",
    "sentence_bleu",
    "rouge",
    "rouge_scores",
    "rouge_signature",
    "ROUGE_TYPES",
    "SCALES",
    "hallucination",
    "hallucination_rate",
]

_LAZY = {"hallucination", "hallucination_rate"}  # qgen.evaluation.hallucination's, imported on first use


def __getattr__(name: str):
    """`qgen.evaluation.metrics.hallucination` / `hallucination_rate` without importing GiNZA machinery at `import qgen.evaluation.metrics`."""
    if name in _LAZY:
        from qgen.evaluation import hallucination as H  # lazy by design: see _LAZY

        return getattr(H, name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")

ROUGE_TYPES = ("rouge1", "rouge2", "rougeL")
# The range of each score qgen reports: BLEU 0-100, everything else 0-1 (a reader must never compare 18.2 with 0.41).
SCALES = {"exact_match": "0-1", "char_f1": "0-1", "bleu": "0-100", "sentence_bleu": "0-100",
          **{k: "0-1" for k in ROUGE_TYPES}, "hallucination_rate": "0-1", "hallucinated_word_rate": "0-1",
          "on_topic_rate": "0-1", "distinct_rate": "0-1",
          # QG-Bench prints its figures x100 (qgen.evaluation.lmqg_protocol)
          **{f"lmqg_{k}": "0-100" for k in ("bleu1", "bleu2", "bleu3", "bleu4", "rougeL", "meteor")}}
Refs = Sequence["str | Sequence[str]"]


def _check(preds: Sequence[str], refs: Refs) -> list[list[str]]:
    """Validate inputs and return the references as lists of strings."""
    if isinstance(preds, str) or isinstance(refs, str):
        raise TypeError("preds and refs must be lists of strings, not a single string")
    if len(preds) != len(refs):
        raise ValueError(f"{len(preds)} predictions but {len(refs)} references")
    if len(preds) == 0:
        raise ValueError("no predictions: a corpus metric over zero examples is undefined")
    out = []
    for i, (p, r) in enumerate(zip(preds, refs)):
        if not isinstance(p, str):
            raise TypeError(f"prediction {i} is {type(p).__name__}, expected str")
        rs = [r] if isinstance(r, str) else list(r) if isinstance(r, (list, tuple)) else None
        if rs is None or not all(isinstance(x, str) for x in rs):
            raise TypeError(f"reference {i} must be a string or a list of strings, got {r!r}")
        if not rs:
            raise ValueError(f"reference {i} is an empty list")
        out.append(rs)
    return out


# ---- JSQuAD EM / character F1 ---------------------------------------------------------------------------------------
# JGLUE's patch of transformers' SQuAD metric (yahoojapan/JGLUE, fine-tuning/patch/transformers-4.24.0_jglue-1.1.0.patch,
# src/transformers/data/metrics/squad_metrics.py): normalize_answer = lower -> (punctuation kept) -> rstrip("。")
# instead of dropping English articles -> " ".join(text.split()); compute_f1 counts characters of the normalised
# strings (spaces included); an empty side scores int(gold == pred). As in squad_metrics.get_raw_scores, references
# that normalise to "" are dropped, and only [""] is used when none is left; the score is the max over references.
# The JGLUE table reports these x100 (JSQuAD dev: human EM 87.1 / F1 94.4); we return [0, 1].


def normalize_answer(s: str) -> str:
    """JGLUE's JSQuAD normalisation: lower-case, strip trailing 。, collapse whitespace (in that order)."""
    return " ".join(s.lower().rstrip("。").split())


def _em(gold: str, pred: str) -> float:
    return float(normalize_answer(gold) == normalize_answer(pred))


def _f1(gold: str, pred: str) -> float:
    gold_toks, pred_toks = list(normalize_answer(gold)), list(normalize_answer(pred))
    if not gold_toks or not pred_toks:
        return float(gold_toks == pred_toks)
    same = sum((collections.Counter(gold_toks) & collections.Counter(pred_toks)).values())
    if same == 0:
        return 0.0
    precision, recall = same / len(pred_toks), same / len(gold_toks)
    return 2 * precision * recall / (precision + recall)


def _golds(rs: list[str]) -> list[str]:
    return [r for r in rs if normalize_answer(r)] or [""]


def exact_match_scores(preds: Sequence[str], refs: Refs) -> list[float]:
    """Per example: 1.0 if the normalised prediction equals a normalised reference, else 0.0."""
    return [max(_em(g, p) for g in _golds(rs)) for p, rs in zip(preds, _check(preds, refs))]


def char_f1_scores(preds: Sequence[str], refs: Refs) -> list[float]:
    """Per example: character F1 against the best reference."""
    return [max(_f1(g, p) for g in _golds(rs)) for p, rs in zip(preds, _check(preds, refs))]


def exact_match(preds: Sequence[str], refs: Refs) -> float:
    """Mean JSQuAD exact match in [0, 1]."""
    scores = exact_match_scores(preds, refs)
    return sum(scores) / len(scores)


def char_f1(preds: Sequence[str], refs: Refs) -> float:
    """Mean JSQuAD character F1 in [0, 1]."""
    scores = char_f1_scores(preds, refs)
    return sum(scores) / len(scores)


# ---- BLEU (sacrebleu) -----------------------------------------------------------------------------------------------


def _presegmented(tokenize: str) -> bool:
    return tokenize in SUDACHI_MODES


@overload
def _seg(text: str, tokenize: str) -> str: ...
@overload
def _seg(text: None, tokenize: str) -> None: ...


def _seg(text: str | None, tokenize: str) -> str | None:
    """The text as sacrebleu sees it: Sudachi modes are segmented here (sacrebleu has no Sudachi tokenizer)."""
    if text is None or not _presegmented(tokenize):
        return text
    return segmented(text, tokenize)


def _signature(metric: Any, tokenize: str) -> str:
    signature = str(metric.get_signature())
    if _presegmented(tokenize):  # "tok:none" would hide the segmenter: name it and its versions instead

        signature = signature.replace("tok:none", f"tok:{bleu_tag(tokenize)}")
    return signature


def bleu_with_signature(preds: Sequence[str], refs: Refs, tokenize: str = "ja-mecab") -> tuple[float, str]:
    """sacrebleu corpus BLEU (0-100) and its signature, e.g. `nrefs:1|case:mixed|eff:no|tok:ja-mecab-0.996-IPA|…`.

    `tokenize` is any sacrebleu tokenizer — "ja-mecab" (MeCab + IPAdic, the usual choice for Japanese), "char", … —
    or "sudachi-A" / "sudachi-B" / "sudachi-C" (SudachiPy split modes; see qgen.evaluation.segmentation).
    Several references per example are allowed, also a varying number (missing ones are passed as None).
    """
    from sacrebleu.metrics import BLEU  # heavy: on first use (module docstring)

    rs = _check(preds, refs)
    n = max(len(r) for r in rs)
    streams: list[list[str | None]] = [[_seg(r[k], tokenize) if k < len(r) else None for r in rs] for k in range(n)]
    metric = BLEU(tokenize="none" if _presegmented(tokenize) else tokenize)
    # sacrebleu takes None for a missing reference, though its annotation says Sequence[Sequence[str]]
    score = metric.corpus_score([_seg(p, tokenize) for p in preds], streams)  # type: ignore[arg-type]
    return min(float(score.score), 100.0), _signature(metric, tokenize)  # float rounding can exceed 100 by 4e-14


def bleu(preds: Sequence[str], refs: Refs, tokenize: str = "ja-mecab") -> float:
    """sacrebleu corpus BLEU in [0, 100]; see `bleu_with_signature`.

    Corpus BLEU is the headline figure, but it needs 4-grams: a corpus of one short text scores 0.0 — `bleu(["今日は晴れ"],
    ["今日は晴れ"])` is 0.0 (3 MeCab tokens, no 4-gram). For one example use `sentence_bleu`.
    """
    return bleu_with_signature(preds, refs, tokenize)[0]


@functools.cache
def _sentence_metric(tokenize: str):
    from sacrebleu.metrics import BLEU  # heavy: on first use (module docstring)

    # smooth_method "exp", sacrebleu.sentence_bleu's default
    return BLEU(tokenize="none" if _presegmented(tokenize) else tokenize, effective_order=True)


def sentence_bleu(pred: str, refs: str | Sequence[str], tokenize: str = "ja-mecab") -> float:
    """BLEU (0-100) of one prediction against its reference(s), for per-example scores and sorting.

    sacrebleu's sentence BLEU: effective order (only n-gram orders the text has count, so a 3-token text is scored on
    1-3-grams: `sentence_bleu("今日は晴れ", "今日は晴れ")` is 100, where corpus `bleu` gives 0) and exponential
    smoothing of zero n-gram counts. Short texts still swing hard: one wrong token of three loses all but one n-gram
    above unigrams (`sentence_bleu("今日は雨", "今日は晴れ")` is 55.0, ROUGE-1 0.67). The mean of sentence BLEU is not
    corpus BLEU: report `bleu` for a data set.
    """
    rs = _check([pred], [refs])[0]
    scored = _sentence_metric(tokenize).sentence_score(_seg(pred, tokenize), [_seg(r, tokenize) for r in rs])
    score = float(scored.score)
    return min(score, 100.0)  # smoothing's float rounding gives 100.00000000000004 for an exact match


# ---- ROUGE (rouge-score with a MeCab tokenizer) ---------------------------------------------------------------------


class MecabTokenizer:
    """rouge-score tokenizer for Japanese: MeCab (fugashi + unidic-lite) surfaces, lower-cased, punctuation dropped.

    rouge-score's default tokenizer keeps only [a-z0-9] runs, so every Japanese string scores 0 with it. Like that
    default, tokens made only of punctuation, symbols or spaces are dropped.
    """

    def __init__(self):
        import fugashi  # on first use (module docstring)

        self._tagger = fugashi.Tagger()

    def tokenize(self, text: str) -> list[str]:
        """rouge-score's tokenizer interface (see the class docstring for why its default cannot score Japanese)."""
        words = (w.surface.lower() for w in self._tagger(text))
        return [w for w in words if w and not all(unicodedata.category(c)[0] in "PSZ" for c in w)]


@functools.cache
def _rouge_scorer(tokenize: str = "ja-mecab"):
    from rouge_score import rouge_scorer  # ~0.5 s (nltk): on first use (module docstring)

    tokenizer = MecabTokenizer() if check(tokenize) == "ja-mecab" else RougeTokenizer(tokenize)
    return rouge_scorer.RougeScorer(list(ROUGE_TYPES), tokenizer=tokenizer)


def rouge_signature(tokenize: str = "ja-mecab") -> str:
    """What a ROUGE figure was computed with, shown beside it as sacrebleu's signature is beside BLEU."""
    return f"rouge-score {version('rouge-score')}|tok:{describe(tokenize)}|lowercase|punct:dropped|fmeasure|best-ref"


def rouge_scores(preds: Sequence[str], refs: Refs, tokenize: str = "ja-mecab") -> list[dict[str, float]]:
    """Per example: {rouge1, rouge2, rougeL} F-measures in [0, 1] against the best reference (rouge-score score_multi).

    `tokenize`: "ja-mecab" (fugashi + unidic-lite, the default), "char", "sudachi-A", "sudachi-B" or "sudachi-C"."""
    scorer = _rouge_scorer(tokenize)
    out = []
    for p, rs in zip(preds, _check(preds, refs)):
        best = scorer.score_multi(rs, p)
        out.append({k: float(best[k].fmeasure) for k in ROUGE_TYPES})
    return out


def rouge(preds: Sequence[str], refs: Refs, tokenize: str = "ja-mecab") -> dict[str, float]:
    """Mean per-example ROUGE-1/2/L F-measures in [0, 1] (keys `rouge1`, `rouge2`, `rougeL`); `tokenize` as in
    `rouge_scores`."""
    scores = rouge_scores(preds, refs, tokenize)
    return {k: sum(s[k] for s in scores) / len(scores) for k in ROUGE_TYPES}
