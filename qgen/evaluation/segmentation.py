"""Word segmentations for BLEU and ROUGE on Japanese text, named as `qgen.evaluation.metrics` / `qgen eval --tokenize` take them.

Japanese has no spaces, so BLEU and ROUGE count whatever units a segmenter cuts, and the figures move with it
(a compound such as 選挙管理委員会 is one word to Sudachi's C mode and four to its A mode). The choices:

- `ja-mecab` (default): BLEU uses sacrebleu's own `ja-mecab` (MeCab + IPAdic), ROUGE qgen's MeCab tokenizer (fugashi +
  unidic-lite) — the figures qgen always reported;
- `char`: characters (BLEU: sacrebleu's `char`);
- `sudachi-A`, `sudachi-B`, `sudachi-C`: SudachiPy with SudachiDict-core in split mode A (short units), B (middle)
  or C (named entities and compounds kept whole).

BLEU over a segmentation sacrebleu lacks is sacrebleu on the pre-segmented text (`tokenize="none"`), every token kept
(as sacrebleu's `ja-mecab` keeps punctuation); its signature then names the segmenter and its versions instead of
`tok:none`. ROUGE tokens are lower-cased and tokens of only punctuation, symbols or spaces are dropped, as with
rouge-score's own tokenizer. `describe(name)` is the string a report shows beside a figure.
"""

from __future__ import annotations

import functools
import unicodedata
from importlib import metadata

TOKENIZERS = ("ja-mecab", "char", "sudachi-A", "sudachi-B", "sudachi-C")
SUDACHI_MODES = {"sudachi-A": "A", "sudachi-B": "B", "sudachi-C": "C"}


def check(name: str) -> str:
    """`name` if it is a known tokenizer: a typo must fail before minutes of scoring, not after."""
    if name not in TOKENIZERS:
        raise ValueError(f"unknown tokenizer {name!r}; choose from {', '.join(TOKENIZERS)}")
    return name


@functools.cache
def _sudachi(mode: str):
    from sudachipy import Dictionary, SplitMode  # only for the sudachi-* segmenters

    return Dictionary(dict="core").create(mode=getattr(SplitMode, mode))


def _version(dist: str) -> str:
    try:
        return metadata.version(dist)
    except metadata.PackageNotFoundError:
        return "?"


def sudachi_words(text: str, name: str) -> list[str]:
    """Sudachi surfaces in the mode of `name` (sudachi-A/B/C), whitespace tokens removed."""
    return [s for m in _sudachi(SUDACHI_MODES[name]).tokenize(text) if (s := m.surface()).strip()]


def words(text: str, name: str) -> list[str]:
    """Every token of `text` under `name` (spaces dropped): the units BLEU counts for char and the Sudachi modes."""
    check(name)
    if name == "char":
        return [c for c in text if not c.isspace()]
    if name in SUDACHI_MODES:
        return sudachi_words(text, name)
    raise ValueError("ja-mecab BLEU is sacrebleu's own tokenizer; use words() for char and sudachi-*")


def segmented(text: str, name: str) -> str:
    """`text` as space-separated tokens (a token's own spaces removed), ready for sacrebleu's `tokenize="none"`."""
    return " ".join("".join(w.split()) for w in words(text, name))


def bleu_tag(name: str) -> str:
    """The `tok:` part of a BLEU signature for a pre-segmented text, e.g. `sudachi-A-0.6.11-core-20260723`."""
    if name in SUDACHI_MODES:
        return f"{name}-{_version('SudachiPy')}-core-{_version('SudachiDict-core')}"
    return name


def describe(name: str) -> str:
    """The segmenter and its versions, e.g. `ja-mecab (fugashi 1.5.2, unidic-lite 1.0.8)`."""
    check(name)
    if name == "ja-mecab":
        return f"ja-mecab (fugashi {_version('fugashi')}, unidic-lite {_version('unidic-lite')})"
    if name == "char":
        return "char"
    return f"{name} (SudachiPy {_version('SudachiPy')}, SudachiDict-core {_version('SudachiDict-core')})"


def _kept(word: str) -> bool:
    return bool(word) and not all(unicodedata.category(c)[0] in "PSZ" for c in word)


class RougeTokenizer:
    """rouge-score tokenizer for `char` and the Sudachi modes: lower-cased, punctuation/symbol/space tokens dropped."""

    def __init__(self, name: str):
        if check(name) == "ja-mecab":
            raise ValueError("ja-mecab ROUGE uses qgen.evaluation.metrics.MecabTokenizer")
        self.name = name

    def tokenize(self, text: str) -> list[str]:
        """rouge-score's tokenizer interface, so ROUGE-L can be scored on Sudachi words or characters."""
        return [w.lower() for w in words(text, self.name) if _kept(w)]
