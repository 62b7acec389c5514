"""GiNZA's tokenizer, two ways: the documented analysis (`load_ginza().tokenizer`, spaCy's Doc) and the same tokens
straight from SudachiPy with spaCy's Japanese tag maps (`SudachiAnalyser`: no Doc, no sub-token splits, many times
faster), which qgen.evaluation.hallucination uses for batches. Texts over SudachiPy's input limit are analysed in
pieces (`pieces`). spaCy and SudachiPy are imported on first use only (a notebook can score without them).
"""

from __future__ import annotations

import functools
import re
from typing import Any

SUDACHI_MAX_BYTES = 49149  # SudachiPy refuses longer input; longer texts are analysed in pieces (see pieces)
GAP = "空白"


@functools.cache
def load_ginza() -> Any:
    """The ja_ginza pipeline, loaded once on first use (spaCy is not imported before)."""
    import spacy  # heavy (spaCy + GiNZA): on first use, see the module docstring

    return spacy.load("ja_ginza")


def pieces(text: str) -> list[str]:
    """Cut `text` after 。 or newlines into pieces under Sudachi's byte limit (almost always just [text])."""
    if len(text.encode("utf-8")) <= SUDACHI_MAX_BYTES:
        return [text]
    out, cur, size = [], "", 0
    for sent in re.split(r"(?<=[。\n])", text):
        if len(sent.encode("utf-8")) > SUDACHI_MAX_BYTES:  # one huge sentence: cut by characters (<= 4 bytes each)
            out.append(cur)
            cur, size = "", 0
            k = SUDACHI_MAX_BYTES // 4
            out.extend(sent[i : i + k] for i in range(0, len(sent) - k, k))
            sent = sent[(len(sent) - 1) // k * k :]
        n = len(sent.encode("utf-8"))
        if size + n > SUDACHI_MAX_BYTES:
            out.append(cur)
            cur, size = "", 0
        cur += sent
        size += n
    out.append(cur)
    return [p for p in out if p]


@functools.cache
def ginza_tables() -> tuple[str, dict, dict, dict]:
    """(split mode, tag -> POS, tag -> {orth: POS}, (tag, next tag) -> (POS | None, next POS | None)) as strings."""
    from spacy.lang.ja.tag_bigram_map import TAG_BIGRAM_MAP  # spaCy: on first use, as above
    from spacy.lang.ja.tag_map import TAG_MAP
    from spacy.lang.ja.tag_orth_map import TAG_ORTH_MAP
    from spacy.parts_of_speech import NAMES
    from spacy.symbols import POS  # spaCy: on first use, as above

    def name(pos: int) -> str | None:
        return NAMES[pos] if pos else None

    split_mode = load_ginza().tokenizer.split_mode
    uni = {tag: name(attrs[POS]) for tag, attrs in TAG_MAP.items()}
    orth = {tag: {o: name(p) for o, p in m.items()} for tag, m in TAG_ORTH_MAP.items()}
    bi = {k: (name(a), name(b)) for k, (a, b) in TAG_BIGRAM_MAP.items()}
    return split_mode, uni, orth, bi


class SudachiAnalyser:
    """GiNZA's tokenizer without the Doc: spaCy's JapaneseTokenizer.__call__ (v3.8) restated on plain tuples."""

    def __init__(self, tables: tuple[Any, dict, dict, dict]):
        from sudachipy import Dictionary, SplitMode  # on first use, as above

        split_mode, self.uni, self.orth, self.bi = tables
        mode = {None: SplitMode.A, "A": SplitMode.A, "B": SplitMode.B, "C": SplitMode.C}[split_mode]
        self.tok = Dictionary().create(mode=mode)
        self.tags: dict[int, str] = {}

    def _tag(self, m: Any) -> str:
        pid = m.part_of_speech_id()
        tag = self.tags.get(pid)
        if tag is None:
            tag = self.tags[pid] = "-".join(x for x in m.part_of_speech()[:4] if x != "*")
        return tag

    def _resolve(self, orth: str, tag: str, next_tag: str | None) -> tuple[str, str | None]:
        m = self.orth.get(tag)
        if m is not None and orth in m:
            return m[orth], None
        if next_tag:
            pair = self.bi.get((tag, next_tag))
            if pair is not None:
                return (pair[0] or self.uni[tag]), pair[1]
        return self.uni[tag], None

    def tokens(self, text: str) -> list[tuple[str, str, str, str]]:
        """(surface, tag, dictionary form, normalised form) per word, piece by piece as GiNZA splits long text."""
        out = []
        for piece in pieces(text):
            out.extend(self._piece(piece))
        return out

    def _piece(self, text: str) -> list[tuple[str, str, str, str]]:
        raw = [(m.surface(), self._tag(m), m.dictionary_form(), m.normalized_form()) for m in self.tok.tokenize(text)]
        raw = [t for t in raw if t[0]]
        # merge runs of space tokens (JapaneseTokenizer._get_dtokens)
        dt = [
            t
            for i, t in enumerate(raw)
            if i == 0 or not t[0].isspace() or t[1] != GAP or not raw[i - 1][0].isspace() or raw[i - 1][1] != GAP
        ]
        if not dt:
            return []
        if all(t[0].isspace() for t in dt):
            toks = [(text, GAP, text, text)]
        else:  # align with the text, turning whitespace into gap tokens (get_dtokens_and_spaces)
            toks, pos = [], 0
            for i, t in enumerate(dt):
                word = t[0]
                if word.isspace():
                    continue
                start = text.index(word, pos)
                if start > pos:
                    w = text[pos:start]
                    toks.append((w, GAP, w, w))
                toks.append(t)
                pos = start + len(word)
                if i + 1 < len(dt) and dt[i + 1][0] == " ":
                    pos += 1
            if pos < len(text):
                w = text[pos:]
                toks.append((w, GAP, w, w))
        out, next_pos = [], None
        for i, (s, tag, lemma, norm) in enumerate(toks):
            if next_pos:
                pos_, next_pos = next_pos, None
            else:
                pos_, next_pos = self._resolve(s, tag, toks[i + 1][1] if i + 1 < len(toks) else None)
            out.append((s, pos_, lemma or s, norm))
        return out
