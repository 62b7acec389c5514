"""Choose the span reader's question weight on held-out JaQuAD *train* questions (never on dev).

usage: python configs/qgen-small-ja/tune_span_reader.py VALID_QA.tsv [N] [SHORTLIST] [MODEL]
VALID_QA.tsv: `prepare_jsquad.py --input jaquad/train --task qa --holdout 0.05 --seed 0 --holdout-output VALID_QA.tsv`
(the held-out paragraphs the recipe also validates on). Scores both terms once per span, then prints EM / char-F1 of
the first N rows for each weight, and the share of questions whose gold answer is among the shortlisted spans.
"""

import random
import sys

import torch

from qgen.data.examples import read_tsv
from qgen.data.jsquad import parse_qa_source
from qgen.evaluation.metrics import char_f1, exact_match
from qgen.inference.decoding import SpanSettings
from qgen.inference.loader import load_inference_model
from qgen.inference.span_reader import SpanReader

path, n = sys.argv[1], int(sys.argv[2]) if len(sys.argv) > 2 else 300
shortlist = int(sys.argv[3]) if len(sys.argv) > 3 else SpanSettings.shortlist
model = sys.argv[4] if len(sys.argv) > 4 else "qgen-small-ja"
torch.set_num_threads(1)
rows = read_tsv(path)
random.Random(0).shuffle(rows)
rows = rows[:n]
reader = SpanReader(load_inference_model(model), SpanSettings(question_weight=1.0, shortlist=shortlist))
scored, golds = [], []
for i, ex in enumerate(rows):
    question, context = parse_qa_source(ex.source)
    target = ex.target
    scored.append(reader.scored(question, context))
    golds.append([target])
    if (i + 1) % 50 == 0:
        print(f"{i + 1}/{len(rows)}", file=sys.stderr)
print(f"gold among the shortlist: {sum(any(a.text == g[0] for a in c) for c, g in zip(scored, golds)) / len(rows):.3f}")
for w in (0.0, 0.25, 0.5, 0.75, 1.0, 2.0):
    preds = [max(c, key=lambda a: a.answer_logprob + w * a.question_logprob).text if c else "" for c in scored]
    print(f"question_weight {w}: EM {exact_match(preds, golds):.3f} char-F1 {char_f1(preds, golds):.3f}")
