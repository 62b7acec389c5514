#!/usr/bin/env bash
# qgen-small-ja's figures for the model card and bench/README.md, measured with qgen's own predict.py + qgen eval:
#   JaQuAD dev (3,939 questions; never used in training or model selection) and JSQuAD valid (4,442; transfer).
#   AQG-HL: the answer's sentence with <hl> marks → question, beam 4.  QA: question + whole paragraph → answer, two
#   ways: generated (greedy), and the span reader (`predict.py --answer-spans`: the span of the two sentences most like
#   the question that the model scores best; qgen/inference/span_reader.py).
# usage: bash configs/qgen-small-ja/evaluate.sh [OUT_DIR] [MODEL]      (LIMIT=N for a quick run on N rows per set)
set -euo pipefail
OUT=${1:-runs/qgen-small-ja/eval}
MODEL=${2:-qgen-small-ja}
PY=${PY:-.venv/bin/python}
D=${QGEN_DATA_DIR:-../shared/data}
LIMIT_ARGS=${LIMIT:+--limit $LIMIT}
mkdir -p "$OUT"

prep() { $PY data_prep/prepare_jsquad.py "$@" > /dev/null; }
prep --input "$D/jaquad/dev" --task aqg_hl --context-window sentence --output "$OUT/jaquad_dev_aqg_hl.tsv"
prep --input "$D/jaquad/dev" --task qa --output "$OUT/jaquad_dev_qa.tsv"
prep --input "$D/jglue/jsquad-v1.3/valid-v1.3.json" --task aqg_hl --context-window sentence --output "$OUT/jsquad_valid_aqg_hl.tsv"
prep --input "$D/jglue/jsquad-v1.3/valid-v1.3.json" --task qa --output "$OUT/jsquad_valid_qa.tsv"

score_set() {  # one data set: AQG-HL (beam 4) then QA (greedy), each scored by qgen eval
  local set=$1
  $PY predict.py --model "$MODEL" --input "$OUT/${set}_aqg_hl.tsv" --output "$OUT/${set}_aqg_hl.jsonl" \
    --num-beams 4 --max-new-tokens 48 $LIMIT_ARGS
  $PY -m qgen.cli eval --predictions "$OUT/${set}_aqg_hl.jsonl" --report "$OUT/${set}_aqg_hl.html" \
    --metrics "$OUT/${set}_aqg_hl.metrics.json" --workers 1
  $PY predict.py --model "$MODEL" --input "$OUT/${set}_qa.tsv" --output "$OUT/${set}_qa.jsonl" \
    --num-beams 1 --max-new-tokens 24 $LIMIT_ARGS
  $PY predict.py --model "$MODEL" --input "$OUT/${set}_qa.tsv" --output "$OUT/${set}_qa_spans.jsonl" \
    --answer-spans $LIMIT_ARGS
  for qa in qa qa_spans; do
    $PY -m qgen.cli eval --predictions "$OUT/${set}_$qa.jsonl" --no-hallucination --report "$OUT/${set}_$qa.html" \
      --metrics "$OUT/${set}_$qa.metrics.json"
  done
}
# the two sets run side by side, one thread each (a 9M model keeps one core busy; two processes use both)
export OMP_NUM_THREADS=${OMP_NUM_THREADS:-1}
score_set jaquad_dev > "$OUT/jaquad_dev.log" 2>&1 &
score_set jsquad_valid > "$OUT/jsquad_valid.log" 2>&1 &
wait %1 || { tail -5 "$OUT/jaquad_dev.log"; exit 1; }
wait %2 || { tail -5 "$OUT/jsquad_valid.log"; exit 1; }
$PY - "$OUT" <<'PY'
import json, sys
from pathlib import Path
out = Path(sys.argv[1])
rows = []
for s in ("jaquad_dev", "jsquad_valid"):
    g = json.loads((out / f"{s}_aqg_hl.metrics.json").read_text())
    q = json.loads((out / f"{s}_qa.metrics.json").read_text())
    w = json.loads((out / f"{s}_qa_spans.metrics.json").read_text())
    rows.append(f"| {s} | {g['n']} | {g['bleu']:.2f} | {g['rougeL']:.3f} | {g['hallucination_rate']:.3f} | "
                f"{g['distinct_rate']:.3f} | {g['on_topic_rate']:.3f} | {q['exact_match']:.3f} | {q['char_f1']:.3f} | "
                f"{w['exact_match']:.3f} | {w['char_f1']:.3f} |")
table = ("| set | n | BLEU-4 (0-100) | ROUGE-L (0-1) | hallucination rate | distinct | on-topic "
         "| QA EM, generated | QA char-F1, generated | QA EM, span reader | QA char-F1, span reader |\n"
         "| --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- |\n" + "\n".join(rows))
(out / "table.md").write_text(table + "\n", encoding="utf-8")
print(table)
print(f"\nwritten {out / 'table.md'} and the reports/metrics beside it")
PY
