"""`qgen eval`: score a predictions JSONL (what predict.py writes) and write a report plus a metrics JSON.

Each line is `{"id", "source", "prediction", "target"}`; `target` is a string or a non-empty list of strings (the
prediction is scored against its best reference). Blank lines are skipped; any other bad line is an error naming the
file, line and field.

Hallucination: the content words of the prediction that do not occur in the *reference text*, which is the source
field (`--source-field`) with everything up to a `context:` marker removed: for question generation sources like
`answer: 1958年 context: 東京タワー [SEP] …` the reference is the context (the answer is a span of it), and each
distinct context is analysed once. `<hl>` answer markers (AQG-HL sources) are removed too. `--keep-source-prefix`
uses the whole field as it is. Interrogatives (何, いくつ), formal nouns (こと, もの) and the like
(`qgen.evaluation.hallucination.QUESTION_STOP_WORDS`) are not counted: a question contains them whatever its context says.
"""

from __future__ import annotations

import sys
from pathlib import Path

from qgen.cli.parser import ArgumentParser, command_prog, output_dir, output_file, thread_count
from qgen.core.files import atomic_files, write_json
from qgen.core.outputs import check_output, check_outputs
from qgen.evaluation import report
from qgen.evaluation.qa_metrics import QA_METRICS
from qgen.evaluation.records import (  # the scoring itself; this module is the command around it
    PROTOCOLS,
    SORT_KEYS,
    evaluate_records,
    format_metrics,
    metrics_path,
    read_predictions,
    records_task,
    scales,
    worst_first,
)


def output_paths(predictions: str | Path, output_dir: str | Path | None = None, report: str | Path | None = None,
                 metrics: str | Path | None = None) -> tuple[Path, Path]:
    """(report, metrics) paths named after the predictions file — `dev.jsonl` → `dev.report.html`, `dev.metrics.json`
    — in `output_dir` or beside it, so evaluations of several files in one folder never overwrite each other."""
    predictions = Path(predictions)
    folder = Path(output_dir) if output_dir is not None else predictions.parent
    return (Path(report) if report else folder / f"{predictions.stem}.report.html",
            Path(metrics) if metrics else metrics_path(predictions, folder))


def main(argv: list[str] | None = None) -> int:
    """`qgen eval`: score a predictions file, print the metrics, write the report and the metrics JSON."""
    ap = ArgumentParser(prog=command_prog("qgen eval"), description=__doc__)
    ap.add_argument(
        "--predictions", required=True, type=Path, help="predictions JSONL (id, source, prediction, target)"
    )
    ap.add_argument("--source-field", default="source", help="field holding the text the prediction was generated from")
    ap.add_argument(
        "--keep-source-prefix", action="store_true", help="use the whole source field, not the text after `context:`"
    )
    ap.add_argument("--no-hallucination", action="store_true", help="skip the GiNZA hallucination check")
    ap.add_argument("--output-dir", type=output_dir, help="where the report and metrics go; %(default)s = beside the predictions")
    ap.add_argument("--report", type=output_file, help="report path (.html or .md); %(default)s = OUTPUT_DIR/NAME.report.html, "
                    "NAME being the predictions file's name without .jsonl")
    ap.add_argument("--metrics", type=output_file, help="metrics JSON path; %(default)s = OUTPUT_DIR/NAME.metrics.json")
    ap.add_argument(
        "--sort", choices=SORT_KEYS, default="hallucination", help="order of the report's examples, worst first"
    )
    ap.add_argument("--max-rows", type=int, default=500, help="examples shown in the report (0 = all)")
    ap.add_argument("--tokenize", default="ja-mecab", choices=("ja-mecab", "char", "sudachi-A", "sudachi-B", "sudachi-C"),
                    help="word segmentation for BLEU and ROUGE (qgen.evaluation.segmentation): MeCab, characters, Sudachi A/B/C")
    ap.add_argument("--protocol", default="qgen", choices=PROTOCOLS,
                    help="qgen: sacrebleu BLEU / ROUGE over every record (--tokenize); lmqg: also QG-Bench's BLEU-1..4, "
                         "ROUGE-L and METEOR (spaCy ja tokens, grouped by the answer's sentence, first prediction kept; "
                         "METEOR needs Java), printed as lmqg_*")
    ap.add_argument("--group-field", default=None,
                    help="with --protocol lmqg: the record field holding the sentence to group by; %(default)s = the "
                         "sentence of the source that holds the <hl> answer")
    ap.add_argument("--qa-metric", default="jglue", choices=QA_METRICS,
                    help="which JSQuAD EM/F1: jglue (character F1), harness (Stability-AI lm-evaluation-harness: MeCab "
                         "word F1 after neologdn), llm-jp-eval (char_f1 = fuzzy token-sort ratio)")
    ap.add_argument(
        "--workers", "--threads",
        type=thread_count,
        default=None,
        help="processes for the hallucination check (eval's CPU parallelism; --threads is the same flag); "
             "%(default)s or 0 = for large inputs up to 2, no more than the cores the machine's load leaves free, else 1",
    )
    args = ap.parse_args(argv)
    report_path, metrics_path = output_paths(args.predictions, args.output_dir, args.report, args.metrics)
    check_outputs([("--report", report_path), ("--metrics", metrics_path)], [("--predictions", args.predictions)])
    hallu = not args.no_hallucination
    for path, flag in ((report_path, "--report"), (metrics_path, "--metrics")):
        check_output(path, flag)  # a default path beside the predictions, checked before the scoring
    records = read_predictions(args.predictions, args.source_field if hallu else None)
    result = evaluate_records(
        records,
        source_field=args.source_field,
        hallucination=hallu,
        strip_source_prefix=not args.keep_source_prefix,
        tokenize=args.tokenize,
        workers=args.workers or None,
        protocol=args.protocol,
        qa_metric=args.qa_metric,
        group_field=args.group_field,
    )
    rows = worst_first(result["examples"], args.sort)
    # one set: a failure at any point never leaves a new report beside old metrics (qgen.core.files.atomic_files)
    with atomic_files(report_path, metrics_path) as (report_tmp, metrics_tmp):
        report.write_report(
            report_tmp, result["metrics"], rows, title=f"qgen eval: {args.predictions.name}", max_rows=args.max_rows
        )
        write_json(metrics_tmp, {"predictions": str(args.predictions), "source_field": args.source_field,
                                 **result["metrics"], "scales": scales(result["metrics"])})
    print(format_metrics(result["metrics"], task=records_task(records, args.source_field)))
    print(f"wrote {report_path} and {metrics_path}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    from qgen.cli import run  # bad input -> `error: …`, exit code 2, as with `qgen eval`

    sys.exit(run("qgen.cli.eval", sys.argv[1:]))
