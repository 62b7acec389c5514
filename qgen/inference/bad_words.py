"""Words the output must not contain, blocked during decoding and checked on the decoded text.

A word has many token spellings: sentencepiece writes it with `▁` at the start of a word and without inside one, a
longer token can swallow its first or last characters, and the model sees normalised text while the user may type
the raw form. Two layers block it:

1. `bad_words_ids` (transformers' NoBadWordsLogitsProcessor): the tokenisations of every variant (raw and normalised;
   bare, after a space, and after several other characters — the word's own ids when it sits inside a longer string).
2. `SubstringBanProcessor`: works on text, not ids. Before each step it decodes the end of every hypothesis and bans
   every token whose text would complete a variant there (the variant inside the token, or a prefix of the variant
   ending the hypothesis and the rest starting the token). This covers spellings no tokenisation of the word produces.

Respellings: a model that copies from its input, once the word is banned, writes it with one character swapped
(`--bad-words 金沢市` gave `エ沢市の県庁所在地…`: the copy goes on after the banned first token). So a word of at least
RESPELL_MIN_CHARS characters is also banned with one character before its last replaced by a character that can be
part of a word (`?沢市`, `金?市`; not a space, hiragana or punctuation, so `東京都` still allows `の京都`, and the last
character stays, so `金沢の` and `金沢大学` stay allowed); layer 2 and the final check cover these forms, written as
regular expressions.

Tokens whose text cannot be known alone (byte-fallback pieces of one character) are not covered by layer 2, so the
decoded output is always checked (`contains_bad`) and callers re-rank / widen the search when one slips through.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from typing import Any

import torch
from transformers import LogitsProcessor

from qgen.core.text import normalize

# Characters put before a word to find its ids inside a longer string (kana, kanji, latin, digit, punctuation).
CONTEXT_PREFIXES = ("", " ", "x", "a", "あ", "の", "は", "日", "1", "、", "「")


def variants(words: Iterable[str], lang: str = "ja") -> list[str]:
    """The distinct text forms to ban: each word stripped, and normalised as training normalised text. `words` is a
    list of strings (one string is one word, not its characters); anything else is a TypeError naming bad_words."""
    if isinstance(words, str):
        words = [words]
    words = list(words)
    wrong = [w for w in words if not isinstance(w, str)]
    if wrong:
        raise TypeError(f"bad_words: expected a list of strings, got an item {wrong[0]!r}")
    out: list[str] = []
    for w in words:
        for v in (w.strip(), normalize(w, lang).strip()):
            if v and v not in out:
                out.append(v)
    return out


RESPELL_MIN_CHARS = 3  # shorter words: one character replaced would ban too much ordinary text
# the replacing character: one that can be part of a word (not a space, hiragana, or punctuation)
_WORD_CHAR = "[^\\s\u3040-\u309f\u3000-\u303f\uff01-\uff0f\uff1a-\uff20!-/:-@\\[-`{-~]"


def forms(bad: list[str]) -> list[list[str]]:
    """Each banned form as a list of one-character regular expressions: every variant as written, and for a variant
    of RESPELL_MIN_CHARS or more characters each respelling with one character before its last replaced."""
    out: list[list[str]] = []
    for v in bad:
        chars = [re.escape(c) for c in v]
        out.append(chars)
        if len(v) >= RESPELL_MIN_CHARS:
            out += [chars[:i] + [_WORD_CHAR] + chars[i + 1:] for i in range(len(v) - 1)]
    return out


def contains_bad(text: str, bad: list[str], lang: str = "ja") -> str | None:
    """The first variant found in `text` (as decoded, or normalised), written or respelt (`forms`), else None."""
    found = (text, normalize(text, lang))
    for v in bad:
        for form in forms([v]):
            if any(re.search("".join(form), f) for f in found):
                return v
    return None


def bad_words_ids(tokenizer: Any, bad: list[str]) -> list[list[int]]:
    """Token id sequences of every variant: bare, and as it tokenises after each of CONTEXT_PREFIXES."""
    special = set(tokenizer.all_special_ids)
    seqs: list[list[int]] = []
    for v in bad:
        for prefix in CONTEXT_PREFIXES:
            enc = tokenizer(prefix + v, add_special_tokens=False, return_offsets_mapping=True)
            ids, offsets = enc["input_ids"], enc["offset_mapping"]
            start = len(prefix)
            # the word's own ids start at the first token reaching into it, unless that token also covers part of
            # the prefix other than whitespace (then the word has no ids of its own in this context)
            cut = next((i for i, (_, e) in enumerate(offsets) if e > start), None)
            if cut is None or (offsets[cut][0] < start and not prefix[offsets[cut][0]:].isspace()):
                continue
            seq = ids[cut:]
            # an <unk> (or other special id) inside means the model cannot spell the word this way
            if seq and not special.intersection(seq) and seq not in seqs:
                seqs.append(seq)
    return seqs


def token_texts(tokenizer: Any, size: int) -> list[str | None]:
    """The text each id adds when decoded after other text ("" for special ids, None when it cannot be known alone)."""
    anchor = tokenizer("a", add_special_tokens=False)["input_ids"][:1]
    base = tokenizer.decode(anchor, skip_special_tokens=True)
    n = min(size, len(tokenizer))
    decoded = tokenizer.batch_decode([anchor + [i] for i in range(n)], skip_special_tokens=True,
                                     clean_up_tokenization_spaces=False)
    special = set(tokenizer.all_special_ids)
    out: list[str | None] = []
    for i, d in enumerate(decoded):
        if i in special:
            out.append("")
        elif "\ufffd" in d or not d.startswith(base):
            out.append(None)
        else:
            out.append(d[len(base):])
    return out + [""] * (size - n)


class SubstringBanProcessor(LogitsProcessor):
    """Ban every next token whose text would make the generated text contain a banned variant."""

    def __init__(self, tokenizer: Any, bad: list[str], vocab_size: int, prompt_len: int, texts: list | None = None):
        """`texts`: token_texts(tokenizer, vocab_size), when the caller keeps it (it decodes the whole vocabulary)."""
        self.tokenizer, self.prompt_len = tokenizer, prompt_len
        texts = texts if texts is not None else token_texts(tokenizer, vocab_size)
        known = [(i, t) for i, t in enumerate(texts) if t]
        always: set[int] = set()
        rules: dict[str, set[int]] = {}  # end of the generated text (a regex) -> ids that complete a form after it
        for form in forms(bad):
            whole = re.compile("".join(form))
            always.update(i for i, t in known if whole.search(t))
            for k in range(1, len(form)):
                rest = re.compile("".join(form[k:]))
                ids = {i for i, t in known if rest.match(t)}
                rules.setdefault("".join(form[:k]) + "$", set()).update(ids)
        self.always = torch.tensor(sorted(always), dtype=torch.long)
        self.rules = [(re.compile(head), torch.tensor(sorted(ids), dtype=torch.long))
                      for head, ids in rules.items() if ids]
        self.tail = 3 * max((len(v) for v in bad), default=1) + 4  # ids enough to hold any head (byte pieces: 3/char)

    def __call__(self, input_ids: torch.LongTensor, scores: torch.FloatTensor) -> torch.FloatTensor:
        if len(self.always):
            scores[:, self.always] = -float("inf")
        if not self.rules:
            return scores
        gen = input_ids[:, self.prompt_len:][:, -self.tail:].tolist()
        tails = self.tokenizer.batch_decode(gen, skip_special_tokens=True, clean_up_tokenization_spaces=False)
        for row, tail in enumerate(tails):
            for head, ids in self.rules:
                if head.search(tail):
                    scores[row, ids] = -float("inf")
        return scores
