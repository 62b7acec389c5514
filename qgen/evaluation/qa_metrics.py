"""The three JSQuAD "F1"s of the field, so a QA figure can be put beside the one it is compared with.

- `jglue` (qgen's default): JGLUE's character F1 and EM (`qgen.evaluation.metrics`: lower-case, strip a trailing 。,
  collapse whitespace; characters counted; max over references).
- `harness`: the Stability-AI lm-evaluation-harness (jp-stable, `lm_eval/jasquad/evaluate.py`): emoji removed,
  neologdn-normalised, whitespace collapsed; F1 over MeCab words (fugashi `-Owakati` with the UniDic it finds: here
  unidic-lite) with punctuation tokens dropped; EM on the normalised strings; max over references.
- `llm-jp-eval`: llm-jp-eval's `char_f1` and `exact_match` for jsquad: NFKC, the prediction cut at its first blank
  line, both stripped and lower-cased with `回答:` / `答え:` removed; char_f1 is fuzzywuzzy's `token_sort_ratio` / 100
  (its processing and whole-percent rounding, the Levenshtein ratio computed by rapidfuzz); only the first reference
  counts, as llm-jp-eval keeps one answer per question.
All return [0, 1] per example. `bench/protocol_compare.py` checks each against the reference code.
"""

from __future__ import annotations

import functools
import re
import string
import unicodedata
from collections import Counter
from collections.abc import Callable, Sequence

import emoji
import neologdn
from rapidfuzz import fuzz, utils

from qgen.evaluation import metrics as M

QA_METRICS = ("jglue", "harness", "llm-jp-eval")
SIGNATURES = {
    "jglue": "qa:jglue|em+char-f1|norm:lower,rstrip-。,ws|max-over-refs",
    "harness": "qa:harness(stability-ai jp-stable)|em+mecab-word-f1|tok:fugashi-unidic-lite|norm:emoji,neologdn,ws|"
               "punct-dropped|max-over-refs",
    "llm-jp-eval": "qa:llm-jp-eval|exact_match+char_f1(token_sort_ratio)|norm:nfkc,strip,lower,answer-prefix|"
                   "first-ref",
}

# The harness's punctuation: Japanese marks plus ASCII punctuation, as single-character tokens to drop.
_HARNESS_PUNCT = frozenset("！？｡。＂＃＄％＆＇（）＊＋，－／：；＜＝＞＠［＼］＾＿｀｛｜｝～｟｠｢｣､、〃》「」『』【】〔〕〖〗〘〙〚〛〜〝〞〟〰〾〿"
                           "–—‘’‛“”„‟…‧﹏." + string.punctuation)
_EMOJI_RANGES = re.compile("[\U0001F600-\U0001F64F\U0001F300-\U0001F5FF\U0001F680-\U0001F6FF\U0001F1E0-\U0001F1FF"
                           "\U00002702-\U000027B0]+")
_ANSWER_PREFIXES = ("回答:", "回答: ", "答え:", "答え: ")
_LATIN1 = dict.fromkeys(range(128, 256))


def _harness_normalise(text: str) -> str:
    text = _EMOJI_RANGES.sub("", "".join("" if emoji.is_emoji(c) else c for c in text))
    return " ".join(neologdn.normalize(text).split())


@functools.cache
def _wakati():
    from fugashi import Tagger  # UniDic (unidic-lite here), as the harness's Tagger("-Owakati")

    return Tagger("-Owakati")


def _harness_f1(pred: str, gold: str) -> float:
    p = [t for t in _wakati().parse(_harness_normalise(pred)).split() if t not in _HARNESS_PUNCT]
    g = [t for t in _wakati().parse(_harness_normalise(gold)).split() if t not in _HARNESS_PUNCT]
    same = sum((Counter(p) & Counter(g)).values())
    if same == 0:
        return 0.0
    precision, recall = same / len(p), same / len(g)
    return 2 * precision * recall / (precision + recall)


def _harness_em(pred: str, gold: str) -> float:
    return float(_harness_normalise(pred) == _harness_normalise(gold))


def _llmjp_text(text: str, prediction: bool) -> str:
    text = unicodedata.normalize("NFKC", text)
    if prediction:
        text = text.split("\n\n")[0]
    text = text.strip().lower()
    for prefix in _ANSWER_PREFIXES:
        text = text.replace(prefix, "")
    return text


def _token_sorted(text: str) -> str:
    """fuzzywuzzy's token-sort processing: Latin-1 letters dropped (its `force_ascii`), non-alphanumerics to spaces,
    lower-cased, words sorted."""
    return " ".join(sorted(utils.default_process(text.translate(_LATIN1)).split()))


def _llmjp_char_f1(pred: str, gold: str) -> float:
    a, b = _token_sorted(_llmjp_text(pred, True)), _token_sorted(_llmjp_text(gold, False))
    if a == b:
        return 1.0  # fuzzywuzzy: equal strings score 100 before anything else (two empty ones too)
    if not a or not b:
        return 0.0
    return int(round(fuzz.ratio(a, b))) / 100  # the Levenshtein ratio as a whole percent, as fuzzywuzzy rounds it


def _llmjp_em(pred: str, gold: str) -> float:
    return float(_llmjp_text(pred, True) == _llmjp_text(gold, False))


def _max_over(fn: Callable[[str, str], float], preds: Sequence[str], refs: Sequence) -> list[float]:
    return [max(fn(p, g) for g in ([r] if isinstance(r, str) else r)) for p, r in zip(preds, refs, strict=True)]


def qa_scores(preds: Sequence[str], refs: Sequence, metric: str = "jglue") -> tuple[list[float], list[float]]:
    """(EM per example, F1 per example) in [0, 1] under `metric` (jglue | harness | llm-jp-eval)."""
    if metric == "jglue":
        return M.exact_match_scores(preds, refs), M.char_f1_scores(preds, refs)
    if metric == "harness":
        return _max_over(_harness_em, preds, refs), _max_over(_harness_f1, preds, refs)
    if metric == "llm-jp-eval":
        first = [r if isinstance(r, str) else r[0] for r in refs]
        return _max_over(_llmjp_em, preds, first), _max_over(_llmjp_char_f1, preds, first)
    raise ValueError(f"unknown QA metric {metric!r}; choose from {', '.join(QA_METRICS)}")
