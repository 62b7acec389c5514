"""KorQuAD (SQuAD layout) → `{"text": ...}` JSONL of Alpaca-style prompts for plain causal-LM fine-tuning.

Without context the text is `PREAMBLE ### Instruction: {question} ### Response: {answer}` (the format of the reference
Llama-2 experiment). `--with-context` uses Alpaca's with-input preamble and puts the paragraph after the question:
`PREAMBLE_INPUT ### Instruction: {question} ### Input: {context} ### Response: {answer}`.

Paraphrase augmentation: a JSON object mapping an original question (or its id) to a list of paraphrases; each
paraphrase becomes one more example with the same answer (and context), placed right after the original, id
`{id}-para{k}`. Questions are matched after normalisation, so spacing or full-width differences do not matter.
"""

from __future__ import annotations

from qgen.core.constants import ALPACA_PREAMBLE
from qgen.core.errors import PathArg, QgenInputError
from qgen.data.jsonfile import load_json
from qgen.data.skips import Skips
from qgen.data.squad import SquadQuestion
from qgen.data.tsv import clean

PREAMBLE = ALPACA_PREAMBLE
PREAMBLE_INPUT = (
    "Below is an instruction that describes a task, paired with an input that provides further context. "
    "Write a response that appropriately completes the request."
)
TEMPLATE = PREAMBLE + " ### Instruction: {question} ### Response: {answer}"
TEMPLATE_CONTEXT = PREAMBLE_INPUT + " ### Instruction: {question} ### Input: {context} ### Response: {answer}"


def format_text(question: str, answer: str, context: str | None = None) -> str:
    """The training text for already-normalised strings (context=None: no Input block)."""
    if context is None:
        return TEMPLATE.format(question=question, answer=answer)
    return TEMPLATE_CONTEXT.format(question=question, answer=answer, context=context)


def load_paraphrases(path: PathArg, lang: str = "ko") -> dict[str, list[str]]:
    """{normalised question or id: [normalised paraphrases]}; any entry that is not a list of strings is an error."""
    data = load_json(path)
    if not isinstance(data, dict):
        raise QgenInputError(f"expected an object mapping questions to lists of paraphrases, got {type(data).__name__}",
                             path=path)
    out: dict[str, list[str]] = {}
    for key, value in data.items():
        if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
            raise QgenInputError("expected a list of strings", path=path, record=repr(key))
        paras = [p for p in (clean(v, lang) for v in value) if p]
        out.setdefault(clean(key, lang) or key, []).extend(paras)
    return out


def build_rows(questions: list[SquadQuestion], *, lang: str = "ko", with_context: bool = False,
               paraphrases: dict[str, list[str]] | None = None, skips: Skips | None = None
               ) -> tuple[list[dict], int, set[str]]:
    """JSONL rows (`id`, `text`), how many of them are paraphrases, and the paraphrase keys that were used."""
    skips = Skips() if skips is None else skips
    paraphrases = paraphrases or {}
    rows, used, n_para = [], set(), 0
    for q in questions:
        question, answer = clean(q.question, lang), clean(q.answer, lang)
        context = clean(q.context, lang) if with_context else None
        if not question or not answer or context == "":
            skips.add("empty text after normalisation", q.id)
            continue
        rows.append({"id": q.id, "text": format_text(question, answer, context)})
        key, paras = paraphrases_of(q.id, question, paraphrases)
        if key is not None:
            used.add(key)
        for k, para in enumerate(paras, 1):
            rows.append({"id": f"{q.id}-para{k}", "text": format_text(para, answer, context)})
            n_para += 1
    return rows, n_para, used


def paraphrases_of(qid: str, question: str, paraphrases: dict[str, list[str]]) -> tuple[str | None, list[str]]:
    """(the key that matched — the id first, else the normalised question — or None, its distinct new paraphrases)."""
    key = qid if qid in paraphrases else question
    if key not in paraphrases:
        return None, []
    seen, out = {question}, []
    for para in paraphrases[key]:
        if para not in seen:
            seen.add(para)
            out.append(para)
    return key, out
