"""The same JSQuAD predictions scored under each word segmentation (README: "Metric tokenisers").

    python bench/metric_tokenizers.py --input $QGEN_DATA_DIR/jglue/jsquad-v1.3/valid-v1.3.json --limit 300 \\
        [--predictions preds.jsonl] [--write-predictions cloze.jsonl]

Without `--predictions` the predictions are a rule-based cloze baseline that needs no model: the sentence holding
the annotated answer, with the answer replaced by 何 and the sentence end by "?" (山梨県の県庁所在地は甲府市です。 →
山梨県の県庁所在地は何です?). Its questions share many words with the references, so the table shows how far the
segmentation alone moves BLEU and ROUGE. Prints a Markdown table (BLEU 0-100, ROUGE 0-1) and the signatures.
"""

from __future__ import annotations

import argparse
import json
import re
from pathlib import Path

from qgen.evaluation import metrics as M
from qgen.evaluation.segmentation import TOKENIZERS

_SENTENCE_END = re.compile(r"(?<=[。！？!?])")


def cloze_question(context: str, answer: str, start: int) -> str:
    """The answer's sentence with the answer replaced by 何 and its end turned into "?"."""
    body_start = context.find("[SEP]") + len("[SEP]") if "[SEP]" in context else 0
    pos, sentence = body_start, ""
    for part in _SENTENCE_END.split(context[body_start:]):
        if pos <= start < pos + len(part):
            sentence, offset = part, start - pos
            break
        pos += len(part)
    if not sentence or sentence[offset: offset + len(answer)] != answer:
        return f"{answer}とは何ですか?"
    text = (sentence[:offset] + "何" + sentence[offset + len(answer):]).strip()
    return re.sub(r"[。！？!?]*$", "", text) + "?"


def baseline(path: Path, limit: int) -> list[dict]:
    from qgen.core.text import normalize
    from qgen.data.squad import read_squad

    questions, _ = read_squad(path)
    return [{"id": q.id, "prediction": normalize(cloze_question(q.context, q.answer, q.answer_start)),
             "target": normalize(q.question)} for q in questions[:limit]]


def table(records: list[dict]) -> tuple[str, list[str]]:
    preds, refs = [r["prediction"] for r in records], [r["target"] for r in records]
    lines = ["| tokenizer | BLEU | ROUGE-1 | ROUGE-2 | ROUGE-L |", "| --- | --- | --- | --- | --- |"]
    signatures = []
    for name in TOKENIZERS:
        score, signature = M.bleu_with_signature(preds, refs, tokenize=name)
        rg = M.rouge(preds, refs, tokenize=name)
        lines.append(f"| {name} | {score:.2f} | {rg['rouge1']:.4f} | {rg['rouge2']:.4f} | {rg['rougeL']:.4f} |")
        signatures.append(f"{name}: BLEU {signature}; ROUGE {M.rouge_signature(name)}")
    return "\n".join(lines), signatures


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0], allow_abbrev=False)
    p.add_argument("--input", type=Path, help="JSQuAD/SQuAD-layout JSON for the cloze baseline")
    p.add_argument("--predictions", type=Path, help="score this predictions JSONL instead (prediction, target)")
    p.add_argument("--limit", type=int, default=300)
    p.add_argument("--write-predictions", type=Path, help="save the baseline predictions (JSONL)")
    args = p.parse_args()
    if args.predictions:
        records = [json.loads(line) for line in args.predictions.read_text(encoding="utf-8").splitlines() if line]
    elif args.input:
        records = baseline(args.input, args.limit)
    else:
        raise SystemExit("error: give --input (JSQuAD JSON) or --predictions")
    if args.write_predictions:
        from qgen.core.files import write_jsonl

        write_jsonl(args.write_predictions, records)
    text, signatures = table(records)
    print(f"{len(records)} predictions\n\n{text}\n")
    print("\n".join(signatures))


if __name__ == "__main__":
    main()
