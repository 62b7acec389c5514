"""Hallucinated content words: words of a generated text that its source never mentions.

The analysis is GiNZA's tokenizer, ``spacy.load("ja_ginza").tokenizer(text)``: SudachiPy with SudachiDict-core in
split mode C, and spaCy's Japanese tag maps for the UD part of speech (``token.pos_``), ``token.lemma_`` (dictionary
form) and ``token.norm_`` (Sudachi's normalised form, e.g. わるい → 悪い). The statistical components (tagger, parser,
NER) are not run: they never change the segmentation, only relabel a few parts of speech, and cost 20-50x more.

Rules (`hallucination`):
- content words of the candidate = tokens whose ``pos_`` is in `CONTENT_POS` (NOUN, PROPN, VERB, ADJ, NUM);
- such a word *occurs in the reference* when its surface, lemma or norm equals the surface, lemma or norm of any
  token of the reference (any part of speech, so 完成した matches 完成する and わるい matches 悪い), or when its
  surface is a substring of the reference text (Sudachi may segment the same words differently in another sentence:
  労働関係調整法 is one token in one context and three in a question);
- a word is dropped when its surface, lemma or norm is in `stop_words`;
- the result is the set of surfaces of the candidate's content words that do not occur in the reference.
An empty candidate gives ``set()``; an empty reference makes every content word hallucinated.

`hallucinations` / `hallucination_rate` give the same result for many pairs, fast: each distinct text is analysed
once, straight from SudachiPy with the same tag maps (qgen.evaluation.ginza_tokens.SudachiAnalyser: no spaCy Doc, no
sub-token splits), and large batches are spread over worker processes. tests/unit/evaluation/test_hallucination.py
checks the two paths agree token for token on JSQuAD.
"""

from __future__ import annotations

import functools
import sys
import threading
import warnings
from collections.abc import Iterable, Sequence
from concurrent.futures import ProcessPoolExecutor
from concurrent.futures.process import BrokenProcessPool
from multiprocessing import get_all_start_methods, get_context

from qgen.core.threads import auto_threads
from qgen.evaluation.ginza_tokens import (
    SudachiAnalyser,
    ginza_tables,
    load_ginza,
)
from qgen.evaluation.ginza_tokens import pieces as _pieces

CONTENT_POS = frozenset({"NOUN", "PROPN", "VERB", "ADJ", "NUM"})
# Words a generated question contains whatever its context says: interrogatives GiNZA tags as content words (何 is
# NUM, いくつ/何人 NOUN, どんな ADJ), formal nouns (こと, もの, ため …), light verbs and the verbs inside compound
# particles (において → おい/おく, による → よる, について → つい/つく, に対して → 対し/対する), and 呼ぶ/言う of
# 何と呼ぶ/何という. Matched like any stop word (surface, lemma or norm). `qgen eval` uses them by default.
QUESTION_STOP_WORDS = frozenset(
    "何 なに なん 何人 何個 何回 何歳 幾つ いくつ 幾ら いくら どんな どう 何故 なぜ 何時 いつ 誰 どこ 何処 どれ どの どちら どっち "
    "こと もの ため ところ わけ はず とき ほう よう ある いる する なる いう 言う 呼ぶ おく よる つく 対する".split()
)
PARALLEL_MIN_CHARS = 2_000_000  # below this, starting worker processes costs more than it saves


def analyse(text: str) -> list[tuple[str, str, str, str]]:
    """The documented analysis: (surface, pos_, lemma_, norm_) of every token of GiNZA's tokenizer."""
    if not isinstance(text, str):
        raise TypeError(f"expected str, got {type(text).__name__}")
    tokenizer = load_ginza().tokenizer
    return [(t.text, t.pos_, t.lemma_, t.norm_) for piece in _pieces(text) for t in tokenizer(piece)]


def _keys(tokens: list[tuple[str, str, str, str]]) -> frozenset[str]:
    return frozenset(k for surface, _, lemma, norm in tokens for k in (surface, lemma, norm))


def _content(tokens: list[tuple[str, str, str, str]]) -> tuple[tuple[str, str, str], ...]:
    return tuple((s, lemma, norm) for s, pos, lemma, norm in tokens if pos in CONTENT_POS)


def _judge(content: tuple[tuple[str, str, str], ...], ref_keys: frozenset[str], ref_text: str, stop: frozenset[str]) -> set[str]:
    out = set()
    for s, lemma, norm in content:
        if s in stop or lemma in stop or norm in stop:
            continue
        if s in ref_keys or lemma in ref_keys or norm in ref_keys or s in ref_text:
            continue
        out.add(s)
    return out


def hallucination(candidate: str, reference: str, stop_words: Iterable[str] = ()) -> set[str]:
    """Content words of `candidate` (surfaces) that do not occur in `reference`; rules in the module docstring.

    >>> sorted(hallucination("今日はわるい天気だ", "今日はよい天気だ"))
    ['わるい']
    """
    return _judge(_content(analyse(candidate)), _keys(analyse(reference)), reference, frozenset(stop_words))


_worker: SudachiAnalyser | None = None


def _init_worker(tables: tuple) -> None:
    global _worker
    _worker = SudachiAnalyser(tables)


def _work(items: list[tuple[bool, str]]) -> list:
    """Analyse (is_reference, text) items: reference -> key set, candidate -> content words."""
    worker = _worker
    assert worker is not None  # _init_worker ran in this pool process
    return [_keys(worker.tokens(t)) if is_ref else _content(worker.tokens(t)) for is_ref, t in items]


@functools.cache
def _local() -> SudachiAnalyser:
    return SudachiAnalyser(ginza_tables())


def _default_workers() -> int:
    """Up to 2 processes, no more than the cores the machine's load leaves free (qgen.core.threads)."""
    return min(2, auto_threads())


def _start_method() -> str:
    """fork when it is safe (no torch/OpenMP threads in this process): instant start, no re-import of __main__;
    otherwise spawn (then a calling script needs the usual `if __name__ == "__main__":` guard)."""
    if "fork" in get_all_start_methods() and "torch" not in sys.modules and threading.active_count() == 1:
        return "fork"
    return "spawn"


def _analyse_all(items: list[tuple[bool, str]], workers: int) -> list:
    if workers > 1 and len(items) > 1:
        size = max(1, -(-len(items) // (workers * 8)))
        chunks = [items[i : i + size] for i in range(0, len(items), size)]
        ctx = get_context(_start_method())
        try:
            with ProcessPoolExecutor(workers, mp_context=ctx, initializer=_init_worker, initargs=(ginza_tables(),)) as ex:
                return [r for chunk in ex.map(_work, chunks) for r in chunk]
        except BrokenProcessPool as e:  # e.g. spawn from an unguarded script: same result, one core
            warnings.warn(f"hallucination workers failed ({e}); analysing in this process", stacklevel=3)
    return [_keys(_local().tokens(t)) if r else _content(_local().tokens(t)) for r, t in items]


def _check_pairs(candidates: Sequence[str], references: Sequence[str]) -> None:
    if len(candidates) != len(references):
        raise ValueError(f"{len(candidates)} candidates but {len(references)} references")
    if not candidates:
        raise ValueError("no candidates: a rate over zero pairs is undefined")
    for name, texts in (("candidate", candidates), ("reference", references)):
        for i, t in enumerate(texts):
            if not isinstance(t, str):
                raise TypeError(f"{name} {i} is {type(t).__name__}, expected str")


def hallucination_details(
    candidates: Sequence[str], references: Sequence[str], stop_words: Iterable[str] = (), workers: int | None = None
) -> list[tuple[set[str], int]]:
    """Per pair: (hallucinated words, number of distinct content words of the candidate that are not stop words).

    Same result as `hallucination` pair by pair. `workers`: processes to use (default: up to 2 free cores, and only for
    batches over `PARALLEL_MIN_CHARS` characters of distinct text); 1 = analyse in this process.
    """
    candidates, references = list(candidates), list(references)
    _check_pairs(candidates, references)
    refs = list(dict.fromkeys(references))
    cands = list(dict.fromkeys(candidates))
    items = [(True, t) for t in refs] + [(False, t) for t in cands]
    if workers is None:
        workers = _default_workers() if sum(len(t) for _, t in items) >= PARALLEL_MIN_CHARS else 1
    results = _analyse_all(items, workers)
    ref_keys = dict(zip(refs, results[: len(refs)]))
    content = dict(zip(cands, results[len(refs) :]))
    stop = frozenset(stop_words)
    out = []
    for c, r in zip(candidates, references):
        words = content[c]
        n = len({s for s, lemma, norm in words if s not in stop and lemma not in stop and norm not in stop})
        out.append((_judge(words, ref_keys[r], r, stop), n))
    return out


def hallucinations(
    candidates: Sequence[str], references: Sequence[str], stop_words: Iterable[str] = (), workers: int | None = None
) -> list[set[str]]:
    """`hallucination` for many pairs at once (fast path); raises ValueError on empty or mismatched lists."""
    return [h for h, _ in hallucination_details(candidates, references, stop_words, workers)]


def hallucination_rate(
    candidates: Sequence[str], references: Sequence[str], stop_words: Iterable[str] = (), workers: int | None = None
) -> float:
    """Share of pairs (in [0, 1]) whose candidate has at least one hallucinated content word."""
    found = hallucinations(candidates, references, stop_words, workers)
    return sum(1 for h in found if h) / len(found)
