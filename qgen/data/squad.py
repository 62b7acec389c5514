"""Reading SQuAD-v1.1-layout files (JSQuAD, KorQuAD, SQuAD) into checked question records.

A file whose containers are wrong (not JSON, top level not {"data": [...]}, an article without a "paragraphs" list, a
paragraph without a "qas" list) is an error naming the file and position. A question that cannot be used (missing or
non-string fields, empty text, no answer, answer text not found at answer_start, empty or missing context, duplicate
id) is skipped and counted by reason and id. The first answer is the one used: in JSQuAD it is the original
annotator's answer, the others are validation answers.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

from qgen.core.errors import PathArg, QgenInputError
from qgen.data.jsonfile import load_json
from qgen.data.skips import Skips


@dataclass(frozen=True)
class SquadQuestion:
    """One answerable question with its first answer: what every SQuAD-layout reader (JSQuAD, JaQuAD, KorQuAD) yields."""

    id: str
    question: str
    answer: str
    answer_start: int  # character offset of `answer` in `context` (raw, before normalisation)
    context: str
    title: str
    position: str  # e.g. "data[0].paragraphs[1].qas[2]", for messages


def _checked_str(obj: dict, key: str) -> str | None:
    value = obj.get(key)
    return value if isinstance(value, str) else None


def _question_problem(qa: dict, context: str | None) -> str | None:
    """Why `qa` cannot be used (a skip reason), or None."""
    for key in ("id", "question", "answers"):
        if key not in qa:
            return f"missing key '{key}'"
    for key in ("id", "question"):
        if not isinstance(qa[key], str):
            return f"non-string '{key}'"
        if not qa[key].strip():
            return f"empty '{key}'"
    if context is None:
        return "missing or non-string context"
    if not context.strip():
        return "empty context"
    answers = qa["answers"]
    if not isinstance(answers, list):
        return "'answers' is not a list"
    if not answers:
        return "unanswerable (no answers)" if qa.get("is_impossible") else "empty 'answers'"
    first = answers[0]
    if not isinstance(first, dict):
        return "answer is not an object"
    if "text" not in first or "answer_start" not in first:
        return "answer missing 'text' or 'answer_start'"
    text, start = first["text"], first["answer_start"]
    if not isinstance(text, str):
        return "non-string answer text"
    if not text.strip():
        return "empty answer text"
    if isinstance(start, bool) or not isinstance(start, int):
        return "answer_start is not an integer"
    if start < 0 or start + len(text) > len(context):
        return "answer_start out of range"
    if context[start : start + len(text)] != text:
        return "answer text not at answer_start"
    return None


def read_squad(path: PathArg) -> tuple[list[SquadQuestion], Skips]:
    """Questions in file order and the skipped ones; QgenInputError if the file itself is malformed."""
    path = Path(path)
    doc = load_json(path)
    if not isinstance(doc, dict):
        raise QgenInputError(f'top level is a JSON {type(doc).__name__}, expected an object {{"data": [...]}}', path=path)
    if "data" not in doc:
        raise QgenInputError("missing key", path=path, field="data")
    if not isinstance(doc["data"], list):
        raise QgenInputError(f"expected a list, got {type(doc['data']).__name__}", path=path, field="data")
    out: list[SquadQuestion] = []
    skips = Skips()
    seen: set[str] = set()
    for i, article in enumerate(doc["data"]):
        where = f"data[{i}]"
        if not isinstance(article, dict) or not isinstance(article.get("paragraphs"), list):
            raise QgenInputError("expected an object with a 'paragraphs' list", path=path, record=where)
        title: str = article["title"] if isinstance(article.get("title"), str) else ""
        for j, para in enumerate(article["paragraphs"]):
            pwhere = f"{where}.paragraphs[{j}]"
            if not isinstance(para, dict) or not isinstance(para.get("qas"), list):
                raise QgenInputError("expected an object with a 'qas' list", path=path, record=pwhere)
            context = _checked_str(para, "context")
            for k, qa in enumerate(para["qas"]):
                qwhere = f"{pwhere}.qas[{k}]"
                if not isinstance(qa, dict):
                    skips.add("question is not an object", qwhere)
                    continue
                ident = qa["id"] if isinstance(qa.get("id"), str) and qa["id"].strip() else qwhere
                problem = _question_problem(qa, context)
                if problem is None and qa["id"] in seen:
                    problem = "duplicate id"
                if problem:
                    skips.add(problem, ident)
                    continue
                seen.add(qa["id"])
                assert context is not None  # _question_problem skips a question without one
                first = qa["answers"][0]
                out.append(
                    SquadQuestion(qa["id"], qa["question"], first["text"], first["answer_start"], context, title, qwhere)
                )
    return out, skips


def squad_files(inputs: Iterable[PathArg]) -> list[Path]:
    """The JSON files named by `inputs`: files as given, directories expanded to their `*.json` files (sorted).

    JaQuAD ships as 30 train shards; `--input data/jaquad/train` reads them all in name order."""
    files: list[Path] = []
    for item in inputs:
        item = Path(item)
        if item.is_dir():
            found = sorted(item.glob("*.json"))
            if not found:
                raise QgenInputError("directory holds no *.json files", path=item)
            files.extend(found)
        else:
            files.append(item)
    return files


def read_squad_files(inputs: Iterable[PathArg]) -> tuple[list[SquadQuestion], Skips]:
    """`read_squad` over several files and directories in order; an id repeated across files is skipped too."""
    out: list[SquadQuestion] = []
    skips = Skips()
    seen: set[str] = set()
    for path in squad_files(inputs):
        questions, file_skips = read_squad(path)
        skips.merge(file_skips)
        for q in questions:
            if q.id in seen:
                skips.add("duplicate id", q.id)
                continue
            seen.add(q.id)
            out.append(q)
    return out, skips
