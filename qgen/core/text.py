"""Text normalisation shared by data preparation, training and inference.

`normalize` = newline removal + Unicode NFKC + neologdn (Japanese only; spaces beside Hangul are kept), no
lower-casing. For Korean (and English)
neologdn is skipped, a newline becomes a space and runs of spaces collapse to one. The JSQuAD title separator
`[SEP]` (any case) is kept as one token written `" [SEP] "`: neologdn would otherwise glue it to the words around it.
"""

from __future__ import annotations

import math
import re
import unicodedata
from collections.abc import Callable

import neologdn

SEP = "[SEP]"
_SEP_RE = re.compile(r"\s*\[sep\]\s*", re.IGNORECASE)
_NEWLINES_RE = re.compile(r"[\r\n\u2028\u2029\x85\x0b\x0c]+")
_SPACES_RE = re.compile(r"\s+")
LANGS = ("ja", "ko", "en")


# Hangul (jamo, compatibility jamo, syllables): Korean separates words with spaces, which neologdn removes between
# any two non-Latin characters. A space beside a Hangul letter is kept whatever `lang` says, so Korean text
# normalised as Japanese (a Korean file without --lang ko, a Korean name in a Japanese text) keeps its words apart.
_HANGUL = "\u1100-\u11ff\u3130-\u318f\ua960-\ua97f\uac00-\ud7af\ud7b0-\ud7ff"
_CLOSE, _OPEN = re.escape(".,!?;:)]}」』\"'”’"), re.escape("([{「『\"'“‘")  # may stand between Hangul and a space
_HANGUL_SPACE_RE = re.compile(f"(?:(?<=[{_HANGUL}])|(?<=[{_HANGUL}][{_CLOSE}]))\\s+"
                              f"|\\s+(?=[{_OPEN}]?[{_HANGUL}])")


def _normalize_piece(text: str, lang: str) -> str:
    if lang == "ja":
        text = _NEWLINES_RE.sub("", text)
        words = _HANGUL_SPACE_RE.split(unicodedata.normalize("NFKC", text))
        text = " ".join(w for w in (neologdn.normalize(w) for w in words) if w)
    else:
        # Korean and English separate words with spaces: a newline becomes a space rather than gluing two words.
        text = _NEWLINES_RE.sub(" ", text)
        text = _SPACES_RE.sub(" ", unicodedata.normalize("NFKC", text)).strip()
    return text


def normalize(text: str, lang: str = "ja") -> str:
    """Normalise `text` for `lang` ("ja", or "ko"/"en" without neologdn). Idempotent."""
    if not isinstance(text, str):
        raise TypeError(f"normalize expects str, got {type(text).__name__}")
    if lang not in LANGS:
        raise ValueError(f"unknown lang {lang!r}; expected one of {LANGS}")
    parts = [_normalize_piece(p, lang) for p in _SEP_RE.split(text)]
    # NFKC and neologdn are not always idempotent on odd input (e.g. a space created by NFKC); iterate to a fixed point.
    out = f" {SEP} ".join(parts)
    for _ in range(4):
        again = f" {SEP} ".join(_normalize_piece(p, lang) for p in _SEP_RE.split(out))
        if again == out:
            break
        out = again
    return out


def split_title(context: str) -> tuple[str | None, str]:
    """Split a JSQuAD context "TITLE [SEP] body" into (title, body); (None, context) when there is no separator."""
    parts = _SEP_RE.split(context, maxsplit=1)
    if len(parts) == 2:
        return parts[0].strip(), parts[1].strip()
    return None, context


# Cutting a text to a token budget (the quiz prompts' and the task prompts' rule: cut the middle, mark it with …).
CUT_AT = 0.7
ELLIPSIS = "…"


def cut_middle(text: str, n: int, at: float = CUT_AT) -> str:
    """`text` with `n` characters around `at` of its length replaced by "…" ("" when n covers it all)."""
    if n <= 0:
        return text
    if n >= len(text):
        return ""
    start = min(max(0, round(len(text) * at - n / 2)), len(text) - n)
    return text[:start] + ELLIPSIS + text[start + n:]


def cut_to_fit(original: str, render: Callable[[str], str], count: Callable[[str], int], budget: int) -> tuple[str, int, str]:
    """Cut `original` by the rule above until `render(cut)` has at most `budget` tokens (by `count`).

    Returns (the cut text, characters removed, its rendered prompt); the text is "" when even that does not fit.
    Each step removes about as many characters as the prompt has tokens too many (times its characters per token),
    so the loop ends in a few tokenizations.
    """
    cut, removed = original, 0
    text = render(cut)
    n = count(text)
    while n > budget and removed < len(original):
        removed = min(len(original), removed + max(1, math.ceil((n - budget) * len(text) / n)))
        cut = cut_middle(original, removed)
        text = render(cut)
        n = count(text)
    return cut, removed, text


def cut_left(ids: list[int], bos: list[int], keep: int) -> list[int]:
    """Token ids that start with `bos` cut from the left to at most `keep`, `bos` kept in front (the end of a prompt is
    the cue the answer follows); ids that fit come back as they are, and with room for no more than `bos`, the first
    `keep` ids."""
    if len(ids) <= keep:
        return ids
    if keep <= len(bos):
        return ids[:keep]
    return bos + ids[len(ids) - keep + len(bos):]
