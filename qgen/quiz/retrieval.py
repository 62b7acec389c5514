"""Offline BM25 retrieval over a local Japanese corpus (bm25s + MeCab via fugashi) and the confidence gate.

`qgen index build --corpus FILES --output INDEX` reads passages from
- plain text (`.txt`): one passage per non-empty line;
- JSON lines / JSON list (`.jsonl`, `.json`): objects with "text" (optional "title", "id");
- SQuAD-layout JSON (`{"data": [{"title", "paragraphs": [{"context"}]}]}`, e.g. JSQuAD): each distinct context,
  with the title taken from "TITLE [SEP] body" (or the article title);
normalises them (qgen.core.text.normalize), drops exact duplicates, tokenises with MeCab (unidic-lite) keeping surface
forms of content tokens (particles, auxiliary verbs, symbols and spaces dropped; ASCII lower-cased) and saves a bm25s
index plus the passages; `load_index` memory-maps it.

The gate (`gate_fires`): retrieval runs for a question exactly when top1 < P or margin < M, with top1 the highest
choice probability of the first pass and margin = top1 − second highest. P = 0 and M = 0 never retrieve; P > 1
always does. Retrieval (`retrieve_for`) searches once per choice with "question choice" as the query, keeps the top
`k` passages of each, de-duplicated in choice order, at most `max_passages` in all.
"""

from __future__ import annotations

import json
from functools import lru_cache
from pathlib import Path
from typing import Any

from qgen.core.errors import QgenInputError
from qgen.core.files import atomic_dir
from qgen.core.text import normalize, split_title
from qgen.data.jsonfile import load_json, load_records, read_text

DROP_POS = {"補助記号", "空白", "助詞", "助動詞", "記号"}  # unidic (and ipadic "記号") parts of speech left out
META = "qgen_index.json"


@lru_cache(maxsize=1)
def _tagger():
    import fugashi  # MeCab: on the first tokenisation

    return fugashi.Tagger()


def tokenize(text: str) -> list[str]:
    """Content-word surface forms of `text` (MeCab, unidic-lite)."""
    out = []
    for word in _tagger()(text):
        if word.feature.pos1 in DROP_POS or not word.surface.strip():
            continue
        out.append(word.surface.lower())
    return out


def _passage(text: object, title: object, pid: object, path: Path, where: dict) -> dict:
    """One passage record, its text checked (an error names the record)."""
    if not isinstance(text, str):
        raise QgenInputError("expected a string", path=path, field="text", **where)
    if title is not None and not isinstance(title, str):
        raise QgenInputError("expected a string", path=path, field="title", **where)
    return {"id": str(pid), "title": normalize(title) if title else "", "text": normalize(text)}


def read_corpus(path: str | Path) -> list[dict]:
    """Passages {"id", "title", "text"} of one corpus file (see the module doc for the formats)."""
    path = Path(path)
    stem = path.stem
    if path.suffix.lower() == ".txt":
        lines = read_text(path).splitlines()
        return [_passage(line, None, f"{stem}:{n}", path, {"line": n}) for n, line in enumerate(lines, 1) if line.strip()]
    if path.suffix.lower() == ".json" and read_text(path).lstrip().startswith("{"):
        data = load_json(path)
        if not isinstance(data, dict) or not isinstance(data.get("data"), list):
            raise QgenInputError("expected SQuAD layout {\"data\": [...]} or JSON lines of passages", path=path)
        out = []
        for a, article in enumerate(data["data"]):
            paragraphs = article.get("paragraphs") if isinstance(article, dict) else None
            if not isinstance(paragraphs, list):
                raise QgenInputError("article without a 'paragraphs' list", path=path, record=f"data[{a}]")
            for p, para in enumerate(paragraphs):
                context = para.get("context") if isinstance(para, dict) else None
                where: dict[str, Any] = {"record": f"data[{a}].paragraphs[{p}]"}
                if not isinstance(context, str):
                    raise QgenInputError("missing or non-string", path=path, field="context", **where)
                title, body = split_title(context)
                out.append(_passage(body, title or article.get("title"), f"{stem}:{a}.{p}", path, where))
        return out
    rows, unit = load_records(path)
    out = []
    for n, obj in rows:
        where = {unit: n}
        if not isinstance(obj, dict) or "text" not in obj:
            raise QgenInputError("expected an object with 'text'", path=path, field="text", **where)
        out.append(_passage(obj["text"], obj.get("title"), obj.get("id", f"{stem}:{n}"), path, where))
    return out


def build_index(corpus_files: list[str | Path], output: str | Path, k1: float = 1.5, b: float = 0.75) -> dict:
    """Build and save the index at `output` (atomically); returns its metadata."""
    import bm25s  # bm25s (~0.2 s, scipy): only to build or load an index

    passages, seen, dups, empty = [], set(), 0, 0
    for path in corpus_files:
        for p in read_corpus(path):
            if not p["text"].strip():
                empty += 1
            elif p["text"] in seen:
                dups += 1
            else:
                seen.add(p["text"])
                passages.append(p)
    if not passages:
        raise QgenInputError("no passages in the corpus", path=", ".join(map(str, corpus_files)))
    tokens = [tokenize(f"{p['title']} {p['text']}") for p in passages]
    retriever = bm25s.BM25(k1=k1, b=b)
    retriever.index(tokens, show_progress=False)
    meta = {"passages": len(passages), "duplicates_dropped": dups, "empty_dropped": empty,
            "sources": [str(p) for p in corpus_files], "tokenizer": "fugashi/unidic-lite surface, content words",
            "k1": k1, "b": b}
    with atomic_dir(output) as tmp:
        retriever.save(str(tmp), corpus=passages, show_progress=False)
        (tmp / META).write_text(json.dumps(meta, ensure_ascii=False, indent=2), encoding="utf-8")
    return meta


class Index:
    """A loaded (memory-mapped) index."""

    def __init__(self, path: str | Path):
        import bm25s  # bm25s (~0.2 s, scipy): only to build or load an index

        path = Path(path)
        if not (path / META).is_file():
            raise QgenInputError("not a qgen index (build it with `qgen index build`)", path=path)
        self.path = path
        try:
            self.meta = json.loads((path / META).read_text(encoding="utf-8"))
            if not isinstance(self.meta, dict) or not isinstance(self.meta.get("passages"), int):
                raise ValueError(f"{META} has no passage count")
            self.bm25 = bm25s.BM25.load(str(path), load_corpus=True, mmap=True, show_progress=False, verbosity=0)
        except Exception as e:  # numpy, scipy, JSON, UTF-8, bm25s's own errors: all a damaged file
            raise damaged_index(path, e) from None

    def __len__(self) -> int:
        return self.meta["passages"]

    def search(self, queries: list[str], k: int = 5) -> list[list[dict]]:
        """Top-k passages per query, best first, each {"id", "title", "text", "score"}; passages scoring 0 (no
        shared content word) are left out. A damaged index file found only now is a QgenInputError naming it."""
        try:
            return self._search(queries, k)
        except QgenInputError:
            raise
        except Exception as e:
            raise damaged_index(self.path, e) from None

    def _search(self, queries: list[str], k: int) -> list[list[dict]]:
        if not queries:
            return []
        k = min(k, len(self))
        ids = [self.bm25.get_tokens_ids(tokenize(q)) for q in queries]
        known = [i for i, q in enumerate(ids) if q]  # a query with no indexed word matches nothing
        out: list[list[dict]] = [[] for _ in queries]
        if not known:
            return out
        docs, scores = self.bm25.retrieve([ids[i] for i in known], k=k, show_progress=False, n_threads=0)
        for i, row_docs, row_scores in zip(known, docs, scores):
            hits = []
            for d, s in zip(row_docs, row_scores):
                if float(s) > 0:
                    hits.append({"id": d["id"], "title": d.get("title", ""), "text": d["text"], "score": float(s)})
            out[i] = hits
        return out


def damaged_index(path: Path, e: Exception) -> QgenInputError:
    """One line for an index a loader or a search failed on, naming the first of its files that does not parse."""
    import numpy as np  # numpy: only once an index failed

    bad = path
    for f in sorted(p for p in path.iterdir() if p.is_file()):
        try:
            if f.suffix == ".npy":
                np.load(f, mmap_mode="r")
            elif f.suffix in (".json", ".jsonl"):
                for line in (f.read_text(encoding="utf-8").splitlines() if f.suffix == ".jsonl" else
                             [f.read_text(encoding="utf-8")]):
                    if line.strip():
                        json.loads(line)
        except (OSError, ValueError, EOFError):  # JSONDecodeError and UnicodeDecodeError are ValueErrors
            bad = f
            break
    reason = (str(e).strip().splitlines() or [""])[0][:160]
    return QgenInputError(f"damaged index ({type(e).__name__}: {reason}); rebuild it with `qgen index build`",
                          path=bad)


def load_index(path: str | Path) -> Index:
    """The index saved at `path` (QgenInputError when it is not one)."""
    return Index(path)


def gate_fires(top1: float, margin: float, p: float, m: float) -> bool:
    """True when the first pass is unsure: top1 < p or margin < m."""
    return top1 < p or margin < m


def retrieve_for(index: Index, question: str, choices: list[str], k: int = 1, max_passages: int = 5) -> list[dict]:
    """Passages for one question: the top-k of each "question choice" query, de-duplicated, choice order kept."""
    out: list[dict] = []
    seen: set[str] = set()
    for hits in index.search([f"{question} {c}" for c in choices], k):
        for h in hits:
            if h["id"] not in seen and len(out) < max_passages:
                seen.add(h["id"])
                out.append(h)
    return out
