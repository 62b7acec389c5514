"""Multiple-choice quiz data (JAQKET, JCommonsenseQA) → instruction JSON for causal-LM fine-tuning and evaluation.

Two styles, both with an "id" (the source qid / q_id) that the trainer and the quiz evaluator use:
- train: the whole prompt (question, numbered choices, `### 回答:` cue) in "instruction"; "output" is `label: text`.
- eval: the question in "instruction", the numbered choices in "input", "output" as above.
The default template text is the one the existing models were trained with; `--template-file` (JSON or YAML mapping with
any of the QuizTemplate fields) overrides parts of it.

JAQKET has 20 answer candidates per question; they are reduced to `--num-choices` (5) that always include the answer:
the distinct candidates other than the answer (compared after normalisation, file order kept) are sampled without
replacement with random.Random(f"{seed}:{qid}") — so a question's choices depend only on the seed and the question,
not on file order or --limit — and the answer is inserted at a position drawn from the same generator.
"""

from __future__ import annotations

import dataclasses
import random
import re
from dataclasses import dataclass
from pathlib import Path

from qgen.core import yaml_file
from qgen.core.errors import PathArg, QgenInputError
from qgen.data.jsonfile import load_json, load_records, read_text
from qgen.data.skips import Skips
from qgen.data.tsv import clean

FORMATS = ("jaqket", "jcommonsenseqa")
STYLES = ("train", "eval")
_LINE_BREAKS_RE = re.compile(r"[\t\r\n\x0b\x0c\x1c-\x1f\x85\u2028\u2029]+")


@dataclass(frozen=True)
class QuizTemplate:
    """Template text; placeholders: {header} {labels} {question} {choices}; choice/output: {label} {text}."""

    header: str = "以下の問題について、{labels}の選択肢から選んで答えてください。"
    train: str = "{header}\n\n問題: {question}\n選択肢\n\n{choices}\n\n\n### 回答:\n"
    eval_instruction: str = "{header}\n\n問題: {question}\n"
    eval_input: str = "{choices}"
    choice: str = "{label}: {text}"
    choice_sep: str = "\n"
    output: str = "{label}: {text}"
    label_sep: str = ", "


@dataclass(frozen=True)
class Quiz:
    """A multiple-choice question in one shape, whichever data set (JCommonsenseQA, JAQKET) it came from."""

    id: str
    question: str
    choices: tuple[str, ...]
    label: int  # index of the correct choice


def render(quiz: Quiz, style: str, template: QuizTemplate = QuizTemplate()) -> dict:
    """The instruction record for `quiz` in `style` ("train" or "eval")."""
    labels = template.label_sep.join(str(i) for i in range(len(quiz.choices)))
    header = template.header.format(labels=labels)
    choices = template.choice_sep.join(template.choice.format(label=i, text=t) for i, t in enumerate(quiz.choices))
    fields = {"header": header, "labels": labels, "question": quiz.question, "choices": choices}
    output = template.output.format(label=quiz.label, text=quiz.choices[quiz.label])
    if style == "train":
        return {"instruction": template.train.format(**fields), "output": output, "id": quiz.id}
    if style == "eval":
        return {"instruction": template.eval_instruction.format(**fields), "input": template.eval_input.format(**fields),
                "output": output, "id": quiz.id}
    raise ValueError(f"unknown style {style!r}; expected one of {STYLES}")


def load_template(path: PathArg) -> QuizTemplate:
    """A QuizTemplate with the fields given in a JSON or YAML mapping; unknown keys or placeholders are errors."""
    path = Path(path)
    if path.suffix.lower() in (".yaml", ".yml"):
        data = yaml_file.load(read_text(path), path)
    else:
        data = load_json(path)
    if not isinstance(data, dict):
        raise QgenInputError(f"expected a mapping of template fields, got {type(data).__name__}", path=path)
    known = {f.name for f in dataclasses.fields(QuizTemplate)}
    for key, value in data.items():
        if key not in known:
            raise QgenInputError(f"unknown template field; known: {', '.join(sorted(known))}", path=path, field=key)
        if not isinstance(value, str):
            raise QgenInputError(f"expected a string, got {type(value).__name__}", path=path, field=key)
    template = QuizTemplate(**data)
    probe = Quiz("probe", "問題", ("a", "b"), 1)
    for style in STYLES:
        try:
            render(probe, style, template)
        except (KeyError, IndexError, ValueError) as e:
            raise QgenInputError(f"bad placeholder in template: {e!r}", path=path) from None
    return template


def flatten(value: str) -> str:
    """Line breaks and tabs → one space, stripped: the only change `--no-normalize` makes to a text."""
    return _LINE_BREAKS_RE.sub(" ", value).strip()


def _text(value: str, normalize: bool) -> str:
    return clean(value) if normalize else flatten(value)


def _ident(obj: object, key: str, where: str) -> str:
    value = obj.get(key) if isinstance(obj, dict) else None
    return str(value) if isinstance(value, (str, int)) and not isinstance(value, bool) and str(value).strip() else where


def parse_jcommonsenseqa(obj: object, normalize: bool = True) -> Quiz | str:
    """A Quiz from a JCommonsenseQA record (q_id, question, choice0..choiceN, label), or the reason it is unusable."""
    if not isinstance(obj, dict):
        return "record is not an object"
    for key in ("q_id", "question", "choice0", "label"):
        if key not in obj:
            return f"missing key '{key}'"
    n = 0
    while f"choice{n}" in obj:
        n += 1
    raw = [obj["question"]] + [obj[f"choice{i}"] for i in range(n)]
    if not all(isinstance(t, str) for t in raw):
        return "non-string question or choice"
    texts = [_text(t, normalize) for t in raw]
    if not all(texts):
        return "empty question or choice"
    label = obj["label"]
    if isinstance(label, bool) or not isinstance(label, int):
        return "label is not an integer"
    if not 0 <= label < n:
        return f"label {label} out of range 0..{n - 1}"
    qid = obj["q_id"]
    if isinstance(qid, bool) or not isinstance(qid, (str, int)) or not str(qid).strip():
        return "bad 'q_id'"
    return Quiz(str(qid), texts[0], tuple(texts[1:]), label)


def parse_jaqket(obj: object, num_choices: int = 5, seed: int = 0, normalize: bool = True) -> Quiz | str:
    """A Quiz from a JAQKET record (qid, question, answer_entity, answer_candidates), or the reason it is unusable."""
    if not isinstance(obj, dict):
        return "record is not an object"
    for key in ("qid", "question", "answer_entity", "answer_candidates"):
        if key not in obj:
            return f"missing key '{key}'"
    qid, question, answer, candidates = (obj[k] for k in ("qid", "question", "answer_entity", "answer_candidates"))
    if not all(isinstance(v, str) for v in (qid, question, answer)):
        return "non-string qid, question or answer_entity"
    if not isinstance(candidates, list) or not all(isinstance(c, str) for c in candidates):
        return "answer_candidates is not a list of strings"
    qid, question, answer = qid.strip(), _text(question, normalize), _text(answer, normalize)
    if not (qid and question and answer):
        return "empty qid, question or answer_entity"
    sampled = sample_choices(answer, [_text(c, normalize) for c in candidates], num_choices, seed, qid)
    if isinstance(sampled, str):
        return sampled
    choices, label = sampled
    return Quiz(qid, question, choices, label)


def sample_choices(answer: str, candidates: list[str], num_choices: int, seed: int, key: str
                   ) -> tuple[tuple[str, ...], int] | str:
    """(choices, label): `answer` plus num_choices-1 distinct other (non-empty) candidates, or why that is impossible.

    Sampled with random.Random(f"{seed}:{key}") so a question's choices depend only on the seed and its id.
    """
    distractors: list[str] = []
    for c in candidates:
        if c and c != answer and c not in distractors:
            distractors.append(c)
    if len(distractors) < num_choices - 1:
        return f"fewer than {num_choices - 1} distinct wrong candidates"
    rng = random.Random(f"{seed}:{key}")
    choices = rng.sample(distractors, num_choices - 1)
    label = rng.randrange(num_choices)
    choices.insert(label, answer)
    return tuple(choices), label


def read_quizzes(path: PathArg, fmt: str, *, num_choices: int = 5, seed: int = 0, normalize: bool = True
                 ) -> tuple[list[Quiz], Skips]:
    """Usable quizzes in file order (JSON lines or a JSON list) and the skipped records by reason."""
    if fmt not in FORMATS:
        raise ValueError(f"unknown format {fmt!r}; expected one of {FORMATS}")
    rows, unit = load_records(path)
    skips, out, seen = Skips(), [], set()
    id_key = "qid" if fmt == "jaqket" else "q_id"
    for n, obj in rows:
        if fmt == "jaqket":
            quiz = parse_jaqket(obj, num_choices, seed, normalize)
        else:
            quiz = parse_jcommonsenseqa(obj, normalize)
        if isinstance(quiz, Quiz) and quiz.id in seen:
            quiz = "duplicate id"
        if isinstance(quiz, str):
            skips.add(quiz, _ident(obj, id_key, f"{unit} {n}"))
            continue
        seen.add(quiz.id)
        out.append(quiz)
    return out, skips
