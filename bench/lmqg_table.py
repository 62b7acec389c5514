"""qgen-small-ja (or any model's predictions) under QG-Bench's protocol, beside a copy baseline and the published rows.

    python data_prep/prepare_jsquad.py --input $QGEN_DATA_DIR/jaquad/dev --task aqg_hl --context-window full --output dev_para.tsv
    python predict.py --model qgen-small-ja --input dev_para.tsv --output dev_para.jsonl      # beam 4, as QG-Bench
    python bench/lmqg_table.py --predictions "qgen-small-ja, paragraph_answer=dev_para.jsonl" [more NAME=PATH]

Each row: QG-Bench's BLEU-1..4, ROUGE-L, METEOR (`qgen eval --protocol lmqg`, 0-100) and qgen's own BLEU-4 (sacrebleu,
ja-mecab, every record). The copy baseline needs no model: the sentence that holds the answer, with the answer replaced by
何 and its end by "?" (首都は<hl>東京<hl>である。 → 首都は何である?), scored on the same records as the first file.
"""

from __future__ import annotations

import argparse
import re
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from qgen.evaluation import lmqg_protocol as L  # noqa: E402
from qgen.evaluation import metrics as M  # noqa: E402
from qgen.evaluation.records import read_predictions, reference_from_source  # noqa: E402

# QG-Bench's table as quoted in issue 26 (qg_jaquad test = JaQuAD dev, paragraph_answer input), BLEU-4 only; lmqg's
# mT5-small model card gives 30.26 (shared/data/README).
PUBLISHED = [("mT5-small (lmqg, published)", 30.49), ("mT5-base (lmqg, published)", 32.54),
             ("mBART-large-cc25 (lmqg, published)", 32.16)]
_HL_SPAN = re.compile(r"\s*<hl>.*?<hl>\s*")


def copy_question(source: str) -> str:
    """The answer's sentence as a question: the marked answer becomes 何, the sentence end becomes "?"."""
    sentence = L.answer_sentence(source)
    text = _HL_SPAN.sub("何", sentence, count=1).strip()
    return re.sub(r"[。！？!?]*$", "", text) + "?"


def row(name: str, records: list[dict]) -> str:
    preds = [r["prediction"] for r in records]
    golds = [r["target"] if isinstance(r["target"], str) else r["target"][0] for r in records]
    sentences = [reference_from_source(L.answer_sentence(r["source"])) for r in records]
    s = L.lmqg_scores(preds, golds, sentences)
    own = M.bleu(preds, golds, tokenize="ja-mecab")
    meteor = "n/a" if s["meteor"] is None else f"{s['meteor']:.2f}"
    return (f"| {name} | {len(records):,} / {s['groups']:,} | {s['bleu1']:.2f} | {s['bleu2']:.2f} | {s['bleu3']:.2f} | "
            f"{s['bleu4']:.2f} | {s['rougeL']:.2f} | {meteor} | {own:.2f} |")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--predictions", nargs="+", required=True, help="NAME=PATH of predict.py JSONL files")
    args = ap.parse_args()
    runs = [(spec.split("=", 1)[0], read_predictions(Path(spec.split("=", 1)[1]), "source")) for spec in args.predictions]
    print("| model | records / groups | BLEU-1 | BLEU-2 | BLEU-3 | BLEU-4 | ROUGE-L | METEOR | BLEU-4 qgen protocol |")
    print("| --- | --- | --- | --- | --- | --- | --- | --- | --- |")
    for name, records in runs:
        print(row(name, records))
    base = [{**r, "prediction": copy_question(r["source"])} for r in runs[0][1]]
    print(row("copy baseline (answer's sentence, answer → 何)", base))
    for name, bleu4 in PUBLISHED:
        print(f"| {name} | 3,939 | | | | {bleu4:.2f} | | | |")
    print(f"\nprotocol: {L.signature(L.java_available())}")


if __name__ == "__main__":
    main()
