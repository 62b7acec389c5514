"""lmqg's question-generation protocol (QG-Bench, `qg_jaquad`), so a qgen figure can stand beside the published table.

QG-Bench (Ushio et al., 2022; the `lmqg` package, `lmqg/automatic_evaluation.py`) scores differently from qgen's own
sacrebleu figures, and every step changes the number:
1. Japanese text is cut into words by spaCy's Japanese tokenizer (`ja_core_news_sm`'s tokenizer: SudachiPy, split mode
   A, SudachiDict-core) and re-joined with spaces; the hypothesis is also lower-cased and given NQG's punctuation
   conventions (`nqg_normalise`).
2. Records are grouped by the sentence the question was generated for (lower-cased, tokenized): every gold question of
   a sentence is a reference, and only the *first* prediction of the group is scored (`prediction_aggregation="first"`).
3. BLEU-1..4 are the MS-COCO caption scorer's corpus BLEU (`pycocoevalcap`, "closest" reference length; lmqg's copy of
   it differs only in whitespace), ROUGE-L its sentence ROUGE-L (LCS, beta 1.2, precision and recall maximised over
   references separately) averaged over groups, METEOR 1.5 (Java; pycocoevalcap ships the jar) run as lmqg runs it.
BLEU is reported 0-100 (as the QG-Bench table prints it), ROUGE-L and METEOR 0-100 too. `bench/protocol_compare.py`
checks every figure against lmqg's own code on the same predictions.
"""

from __future__ import annotations

import functools
import os
import re
import shutil
import subprocess
from collections.abc import Sequence
from importlib import metadata

SCORES = ("bleu1", "bleu2", "bleu3", "bleu4", "rougeL", "meteor")

# NQG's gold questions were PTB-tokenised: brackets are words like -lrb-, and some punctuation stands apart.
_BRACKETS = {"(": "-lrb-", ")": "-rrb-", "[": "-lsb-", "]": "-rsb-", "{": "-lcb-", "}": "-rcb-"}
_DETACHED = ("'s", "?", ",", "'", "$", "%")
_SENTENCE_END = re.compile(r"(?<=[。！？!?])|\n")


def nqg_normalise(text: str) -> str:
    """The hypothesis as QG-Bench compares it: lower-cased, brackets as PTB words, `?` `,` `'s` `'` `$` `%` split off,
    double quotes as `` … '', and a space before runs such as `...` or `--`."""
    text = text.lower()
    for bracket, word in _BRACKETS.items():
        text = text.replace(bracket, word)
    for mark in _DETACHED:
        text = re.sub(r"\s*" + re.escape(mark), " " + mark, text)
    text = re.sub(r'"([^"]+)"', r"`` \1 ''", text)
    for mark in (".", "-"):
        text = re.sub(r"\s*([" + re.escape(mark) + r"].{2})", r" \1", text)
    return text


@functools.cache
def _spacy_ja():
    import spacy  # heavy: only when the protocol is used

    return spacy.blank("ja")  # the tokenizer of ja_core_news_sm: SudachiPy, split mode A (spaCy's default)


def tokenize(text: str) -> str:
    """spaCy's Japanese tokens of `text` (stripped) joined by single spaces, as QG-Bench feeds its scorers."""
    return " ".join(str(t) for t in _spacy_ja().tokenizer(text.strip()))


def answer_sentence(source: str) -> str:
    """The sentence of a `<hl>`-marked source that holds the answer (what QG-Bench groups by): the text between the
    sentence ends (。！？!? or a line break) around the marked span, marks kept; the whole source when unmarked."""
    start = source.find("<hl>")
    if start < 0:
        return source
    end = source.find("<hl>", start + 4)
    end = len(source) if end < 0 else end + 4
    left = max((m.end() for m in _SENTENCE_END.finditer(source, 0, start)), default=0)
    right = next((m.end() for m in _SENTENCE_END.finditer(source, end) if m.end() > end), len(source))
    return source[left:right]


def group_first(predictions: Sequence[str], references: Sequence[str], sentences: Sequence[str]
                ) -> tuple[dict[str, list[str]], dict[str, list[str]]]:
    """(gold questions by sentence, [first prediction] by sentence), all tokenized: QG-Bench's sentence-level scoring."""
    golds: dict[str, list[str]] = {}
    first: dict[str, list[str]] = {}
    for pred, ref, sentence in zip(predictions, references, sentences, strict=True):
        key = tokenize(sentence.lower())
        golds.setdefault(key, []).append(tokenize(ref))
        first.setdefault(key, [tokenize(pred)])
    return golds, first


def java_available() -> bool:
    """Whether METEOR can run: it is a Java jar, and without java the score is left out rather than faked."""
    return shutil.which("java") is not None


class _Meteor:
    """METEOR 1.5 over the jar pycocoevalcap ships, driven line by line as lmqg drives it (English settings, `-norm`,
    LC_ALL=C, runs of whitespace collapsed in each SCORE line)."""

    def __init__(self) -> None:
        from pycocoevalcap.meteor import meteor  # the jar's folder

        folder = os.path.dirname(os.path.abspath(meteor.__file__))
        env = {**os.environ, "LC_ALL": "C"}
        self.proc = subprocess.Popen(["java", "-jar", "-Xmx2G", "meteor-1.5.jar", "-", "-", "-stdio", "-l", "en", "-norm"],
                                     cwd=folder, env=env, stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                                     stderr=subprocess.DEVNULL)
        assert self.proc.stdin is not None and self.proc.stdout is not None  # both PIPE above
        self.stdin, self.stdout = self.proc.stdin, self.proc.stdout

    def _ask(self, line: str) -> str:
        self.stdin.write((line + "\n").encode())
        self.stdin.flush()
        return self.stdout.readline().decode().strip()

    def score(self, golds: dict[str, list[str]], hyps: dict[str, list[str]]) -> float:
        """Corpus METEOR from the jar's EVAL line, as pycocoevalcap computes it (not a mean of sentence scores)."""
        stats = []
        for key, refs in golds.items():
            line = " ||| ".join(("SCORE", " ||| ".join(refs), hyps[key][0].replace("|||", "")))
            stats.append(self._ask(re.sub(r"\s+", " ", line)))
        self.stdin.write(("EVAL ||| " + " ||| ".join(stats) + "\n").encode())
        self.stdin.flush()
        for _ in stats:
            self.stdout.readline()  # one score per group, then the corpus score
        return float(self.stdout.readline().decode().strip())

    def close(self) -> None:
        """Stop the JVM: it would otherwise outlive the evaluation."""
        self.proc.kill()
        self.proc.wait()


def signature(meteor: bool) -> str:
    """What the lmqg figures were computed with, shown beside them."""
    versions = ";".join(f"{d}-{_version(d)}" for d in ("spacy", "SudachiPy", "SudachiDict-core", "pycocoevalcap"))
    return (f"protocol:lmqg|tok:spacy-ja(sudachi-A)|norm:nqg|group:sentence|agg:first|bleu:coco-closest|"
            f"rougeL:coco-beta1.2|meteor:{'1.5-en-norm' if meteor else 'none(no java)'}|{versions}")


def _version(dist: str) -> str:
    try:
        return metadata.version(dist)
    except metadata.PackageNotFoundError:
        return "?"


def lmqg_scores(predictions: Sequence[str], references: Sequence[str], sentences: Sequence[str],
                meteor: bool | None = None) -> dict:
    """QG-Bench's BLEU-1..4, ROUGE-L and METEOR (all 0-100) over sentence groups; METEOR is None without a Java
    runtime (`meteor=None` = use it when there is one). Adds `groups` and `signature`."""
    from pycocoevalcap.bleu.bleu_scorer import BleuScorer  # the scorer lmqg copied
    from pycocoevalcap.rouge.rouge import Rouge

    if not predictions:
        raise ValueError("no predictions: the lmqg protocol over zero records is undefined")
    golds, first = group_first(predictions, references, sentences)
    hyps = {k: [nqg_normalise(v[0])] for k, v in first.items()}
    bleu = BleuScorer(n=4)
    for key, refs in golds.items():  # as bytes, as lmqg passes them: split() then cuts at ASCII whitespace only
        bleu += (hyps[key][0].encode(), [r.encode() for r in refs])
    bleus, _ = bleu.compute_score(option="closest", verbose=0)
    rouge, _ = Rouge().compute_score(golds, hyps)
    use_meteor = java_available() if meteor is None else meteor
    out = {f"bleu{i + 1}": 100 * b for i, b in enumerate(bleus)}
    out["rougeL"] = 100 * float(rouge)
    out["meteor"] = None
    if use_meteor:
        scorer = _Meteor()
        try:
            out["meteor"] = 100 * scorer.score(golds, hyps)
        finally:
            scorer.close()
    out["groups"] = len(golds)
    out["signature"] = signature(use_meteor)
    return out
