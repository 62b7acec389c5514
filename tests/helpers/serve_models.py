"""A models directory for the `qgen serve` tests, as `--models runs/` would be: a tiny T5 question generator (task
aqg_hl) and a tiny GPT-2 quiz model, built from the checked-in JSQuAD / JCommonsenseQA rows of tests/fixtures/.

Weights are redrawn with a wider spread (as in helpers.inference_models) so outputs depend on the input; the T5's
EOS embedding is moved next to a frequent token's so its questions end at different lengths.
"""

from __future__ import annotations

import json
from pathlib import Path

from helpers.inference_models import _redraw, _save, _t5_with_eos, _texts, jsquad_examples
from qgen.data.quiz import read_quizzes, render
from qgen.models.loading import load_model, load_tokenizer, resolve

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures"
JSQUAD = FIXTURES / "jglue/jsquad-v1.3/valid-v1.3.json"
JCQA = FIXTURES / "jglue/jcommonsenseqa-v1.3/train-v1.3.json"
QG_MODEL, QUIZ_MODEL = "t5-hl", "quiz/gpt2"  # names the server gives them (paths under the models directory)


def build(root: Path) -> Path:
    """The models directory (reused when already built)."""
    root = Path(root)
    if (root / "done.json").is_file():
        return root / "models"
    models = root / "models"
    texts = _texts(JSQUAD)
    sources = [ex.source for ex in jsquad_examples(JSQUAD, "aqg_hl", 40)]
    t5 = _t5_with_eos(Path(resolve("tiny-t5", texts, root / "base")), sources, root / "t5")
    _save(load_model(str(t5)), load_tokenizer(str(t5)), models / QG_MODEL, "aqg_hl")  # the task it is offered for
    quizzes, _ = read_quizzes(JCQA, "jcommonsenseqa")
    quiz_texts = [render(q, "train")["instruction"] + render(q, "train")["output"] for q in quizzes]
    base = Path(resolve("tiny-gpt2", quiz_texts, root / "base"))
    tok, model = load_tokenizer(str(base)), load_model(str(base))
    _redraw(model, 0.1, 1)
    _save(model, tok, models / QUIZ_MODEL, "quiz")
    (root / "done.json").write_text(json.dumps({"models": str(models)}))
    return models
