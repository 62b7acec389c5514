"""Text normalisation shared by data preparation, training and inference.

`normalize` = newline removal + Unicode NFKC + neologdn (Japanese only), no lower-casing. For Korean (and English)
neologdn is skipped, a newline becomes a space and runs of spaces collapse to one. The JSQuAD title separator
`[SEP]` (any case) is kept as one token written `" [SEP] "`: neologdn would otherwise glue it to the words around it.
"""

from __future__ import annotations

import re
import unicodedata

SEP = "[SEP]"
_SEP_RE = re.compile(r"\s*\[sep\]\s*", re.IGNORECASE)
_NEWLINES_RE = re.compile(r"[\r\n\u2028\u2029\x85\x0b\x0c]+")
_SPACES_RE = re.compile(r"\s+")
LANGS = ("ja", "ko", "en")


def _normalize_piece(text: str, lang: str) -> str:
    if lang == "ja":
        import neologdn

        text = _NEWLINES_RE.sub("", text)
        text = neologdn.normalize(unicodedata.normalize("NFKC", text))
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
