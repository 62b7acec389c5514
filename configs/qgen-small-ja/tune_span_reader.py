"""Choose the span reader's weights on held-out JaQuAD *train* questions (never on dev).

usage: python configs/qgen-small-ja/tune_span_reader.py VALID_QA.tsv [N] [MODEL]
VALID_QA.tsv: `prepare_jsquad.py --input jaquad/train --task qa --holdout 0.05 --seed 0 --holdout-output VALID_QA.tsv`
(the held-out paragraphs the recipe also validates on; 1,565 questions). Each of the first N rows (all by default) is
read twice — with and without the answer-type filter — keeping the 32 spans the QA head ranks best with every term,
then the weights are searched on the first half of the rows and every setting is shown on both halves (the second
half checks the choice). The shipped defaults (SpanSettings) are the best first-half setting rounded.
"""

import itertools
import sys

import torch

from qgen.data.examples import read_tsv
from qgen.data.jsquad import parse_qa_source
from qgen.evaluation.metrics import char_f1_scores, exact_match_scores
from qgen.inference.decoding import SpanSettings
from qgen.inference.loader import load_inference_model
from qgen.inference.span_reader import SpanReader, cue_terms

path = sys.argv[1]
n = int(sys.argv[2]) if len(sys.argv) > 2 else 0
model = sys.argv[3] if len(sys.argv) > 3 else "qgen-small-ja"
torch.set_num_threads(1)
rows = read_tsv(path)[: n or None]
im = load_inference_model(model)
# the cue weights 0 here: the shortlist is the QA head's, and the grid below re-weights every term
readers = {typed: SpanReader(im, SpanSettings(question_weight=1.0, proximity_weight=0.0, length_weight=0.0,
                                              shortlist=32, ignore_answer_type=not typed)) for typed in (True, False)}
scored = {typed: [] for typed in readers}
for i, ex in enumerate(rows):
    question, context = parse_qa_source(ex.source)
    for typed, reader in readers.items():
        scored[typed].append(reader.scored(question, context))
    if (i + 1) % 100 == 0:
        print(f"{i + 1}/{len(rows)}", file=sys.stderr)
golds = [[ex.target] for ex in rows]
half = len(rows) // 2


def _mean(xs: list[float]) -> float:
    return sum(xs) / max(1, len(xs))


def evaluate(typed: bool, w: float, p: float, length: float, qa: float = 1.0) -> tuple[float, float, float, float]:
    """char-F1 and EM on the first and the second half of the rows."""
    def score(a):
        near, long = cue_terms(a.distance, a.span.sentence, a.text)
        return qa * a.answer_logprob + w * a.question_logprob + p * near + length * long
    preds = [max(c, key=score).text if c else "" for c in scored[typed]]
    f1, em = char_f1_scores(preds, golds), exact_match_scores(preds, golds)
    return _mean(f1[:half]), _mean(em[:half]), _mean(f1[half:]), _mean(em[half:])


grid = list(itertools.product((True, False), (0.0, 0.25, 0.5, 0.75, 1.0), (0.0, 1.0, 2.0, 3.0, 4.0, 6.0),
                              (0.0, 1.0, 2.0, 4.0, 6.0, 8.0)))
results = sorted(((evaluate(*g), g) for g in grid), key=lambda r: -r[0][0])
print(f"{len(rows)} questions; halves of {half} / {len(rows) - half}")
print("answer type | question w | proximity | length | char-F1 first half (EM) | char-F1 second half (EM)")
for (f1a, ema, f1b, emb), (typed, w, p, length) in results[:10]:
    print(f"{'on' if typed else 'off':>11} | {w:>10} | {p:>9} | {length:>6} | {f1a:.3f} ({ema:.3f}) | {f1b:.3f} ({emb:.3f})")
d = SpanSettings()
for name, g in (("defaults", (True, d.question_weight, d.proximity_weight, d.length_weight)),
                ("no answer type", (False, d.question_weight, d.proximity_weight, d.length_weight)),
                ("no proximity", (True, d.question_weight, 0.0, d.length_weight)),
                ("no length", (True, d.question_weight, d.proximity_weight, 0.0)),
                ("no question term", (True, 0.0, d.proximity_weight, d.length_weight)),
                ("model terms only", (False, d.question_weight, 0.0, 0.0)),
                ("cues only", (True, 0.0, d.proximity_weight, d.length_weight, 0.0))):  # over the QA head's 32
    f1a, ema, f1b, emb = evaluate(*g)
    print(f"{name:>16}: first half {f1a:.3f} ({ema:.3f}), second half {f1b:.3f} ({emb:.3f})")
