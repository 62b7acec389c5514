"""`predict.py --task quiz …` (multiple-choice evaluation, optionally confidence-gated retrieval) and `qgen quiz tune-gate`.

    python predict.py --task quiz --model runs/quiz/best --input dev1.json dev2.json --output-dir results/
    qgen quiz eval --model runs/quiz/best --input dev.json --output-dir results/ --retrieval idx --gate-top1 0.5
    qgen quiz tune-gate --without results/plain/result.json --with results/all/result.json --tune-fraction 0.5
    qgen quiz sweep --models M1 M2 M3 --input dev.json --output-dir sweeps/x   # several models (qgen.cli.quiz_sweep)

Writes (atomically) result.json (one record per question), result.log (readable), metrics.json and reliability.png
(reliability_first_pass.png too when retrieval is on) into the output directory; prints accuracy per file and overall.

A result.json record: id, file, question, choices, gold, pred (None = unparseable generation), correct, probs (per
choice), confidence (top-1 probability), margin (top-1 − top-2), scoring, scores (raw per-choice scores), raw (the
generated text, `generate` only), unparseable, prompt_tokens, cut (what the truncation rule removed), prompt (the
exact prompt text scored), retrieval_used, passages (ids of the `[参考]` passages); with loglik scoring also
pred_acc / pred_acc_norm and acc / acc_norm (lm-evaluation-harness's two picks), continuation_chars; with
`--retrieval` also gate_fired and first_pass (pred, correct, probs, confidence, margin, raw of the pass without
retrieval). Gate: a question is re-scored with retrieved passages when top1 < --gate-top1 or margin < --gate-margin
(or always with --retrieve-all), and the re-scored answer replaces the first one; when BM25 finds nothing the first
answer stands (gate_fired true, retrieval_used false).
"""

from __future__ import annotations

import argparse
import logging
import sys
import time
from pathlib import Path

from qgen.cli.parser import ArgumentParser, command_prog, invoked_as, reports_input_errors
from qgen.core.constants import DTYPE_NAMES
from qgen.core.errors import QgenInputError

log = logging.getLogger(__name__)


def load_for_quiz(model_path: str, prompt_format: str | None, max_len: int | None, device: str, dtype: str):
    """(model, tokenizer, adapter, max_len) built the way the checkpoint was trained (its saved InputSpec), via the
    shared inference loader (full checkpoints, LoRA adapter directories, hub names)."""
    from qgen.inference.loader import load_inference_model
    from qgen.models.loading import make_adapter

    im = load_inference_model(model_path, device=device, dtype=dtype)
    if im.kind != "causal":
        raise QgenInputError("quiz scoring needs a causal (decoder-only) model", path=model_path)
    config = im.model.config
    context = getattr(config, "max_position_embeddings", None) or getattr(config, "n_positions", None) or 2048
    max_len = min(max_len or im.spec.max_len, context)
    adapter = make_adapter("causal", im.tokenizer, max_len=max_len,
                           prompt_format=prompt_format or im.spec.prompt_format)
    return im.model, im.tokenizer, adapter, max_len


def build_parser() -> argparse.ArgumentParser:
    from qgen.quiz.scoring import METHODS

    p = ArgumentParser(prog=command_prog("qgen quiz"),
                       description="Evaluate a causal LM on multiple-choice quizzes (`predict.py --task quiz …`, "
                       "`qgen quiz [eval] …`).\nThe gate tuner and the model sweep have their own flags: `qgen quiz "
                       "tune-gate --help`, `qgen quiz sweep --help`.")
    p.add_argument("--model", required=True, help="checkpoint directory (e.g. runs/quiz/best) or hub id")
    p.add_argument("--input", nargs="+", required=True, type=Path, help="eval-style (or train-style) quiz JSON files")
    p.add_argument("--output-dir", required=True, type=Path,
                   help="directory for result.json, result.log, metrics.json and reliability.png")
    p.add_argument("--output", type=Path, help=argparse.SUPPRESS)  # caught: one file cannot hold a quiz run's outputs
    p.add_argument("--scoring", choices=METHODS, default="choice-token", help="how a choice is picked")
    p.add_argument("--loglik-target", choices=("text", "answer"), default="text",
                   help="loglik continuation: the choice text, or the whole answer 'N: text'")
    p.add_argument("--loglik-tokenization", choices=("apart", "joint"), default=None,
                   help="loglik: apart = prompt and choice encoded separately (how qgen trains); joint = "
                   "lm-evaluation-harness 0.4's split of prompt+choice (default: apart for a checkpoint with "
                   "qgen_config.yaml, joint otherwise)")
    p.add_argument("--target-delimiter", default="",
                   help="loglik: text put before each choice (the harness's task default is ' '; default '')")
    p.add_argument("--add-bos-token", choices=("true", "false"), default=None,
                   help="joint: the harness's add_bos_token model argument (default: unset, as there: the "
                   "tokenizer's own special tokens)")
    p.add_argument("--prompt-style", choices=("train", "record"), default="train",
                   help="train: re-render with the quiz train template; record: the record's own instruction/input")
    p.add_argument("--template-file", type=Path, help="JSON/YAML QuizTemplate overrides (as in prepare_quiz)")
    p.add_argument("--prompt-format", default=None, help="override the checkpoint's prompt format (auto, chat, opencalm …)")
    p.add_argument("--max-len", type=int, default=None, help="context tokens (default: the checkpoint's max_len)")
    p.add_argument("--batch-size", type=int, default=8, help="questions per forward pass")
    p.add_argument("--max-new-tokens", type=int, default=24, help="generate: answer tokens")
    p.add_argument("--limit", type=int, default=None, help="first N questions of each file")
    p.add_argument("--device", default="cpu", help="torch device (cpu, cuda, auto)")
    p.add_argument("--dtype", choices=DTYPE_NAMES, default="auto", help="weights dtype")
    p.add_argument("--verbose", action="store_true", help="also show transformers' loading bars and warnings")
    r = p.add_argument_group("retrieval")
    r.add_argument("--retrieval", type=Path, default=None, help="BM25 index directory (qgen index build)")
    r.add_argument("--gate-top1", type=float, default=0.5, help="retrieve when top-1 probability < P")
    r.add_argument("--gate-margin", type=float, default=0.0, help="… or when top-1 minus top-2 < M")
    r.add_argument("--retrieve-all", action="store_true", help="retrieve for every question (input for tune-gate)")
    r.add_argument("--retrieval-k", type=int, default=1, help="passages per choice query")
    r.add_argument("--max-passages", type=int, default=5, help="passages per question")
    return p


def _record(item, scored, method) -> dict:
    from qgen.evaluation.calibration import confidence

    top1, margin = confidence([scored.probs])
    return {"id": item.id, "file": item.file, "question": item.question, "choices": item.choices, "gold": item.gold,
            "pred": scored.pred, "correct": scored.pred is not None and scored.pred == item.gold,
            "probs": [round(p, 6) for p in scored.probs], "confidence": float(top1[0]), "margin": float(margin[0]),
            "scoring": method, "scores": scored.scores, "raw": scored.raw,
            "unparseable": method == "generate" and scored.pred is None,
            "prompt_tokens": scored.prompt_tokens, "cut": scored.cut, "retrieval_used": False, "passages": [],
            "prompt": scored.prompt, **_loglik_fields(item, scored)}


def _loglik_fields(item, scored) -> dict:
    """loglik scorings: both lm-evaluation-harness predictions (acc: sum of log-probs; acc_norm: per character)."""
    if "pred_acc" not in scored.extra:
        return {}
    return {"pred_acc": scored.extra["pred_acc"], "pred_acc_norm": scored.extra["pred_acc_norm"],
            "acc": scored.extra["pred_acc"] == item.gold, "acc_norm": scored.extra["pred_acc_norm"] == item.gold,
            "continuation_chars": scored.extra["continuation_chars"]}


def evaluate(args) -> tuple[dict, list[Path]]:
    """Score every file (and re-score gated questions with retrieval); returns the metrics and the paths written."""
    from qgen.core import console
    from qgen.data.quiz import QuizTemplate, load_template
    from qgen.quiz.prompt import read_quiz
    from qgen.quiz.report import write_outputs
    from qgen.quiz.retrieval import gate_fires, load_index, retrieve_for
    from qgen.quiz.scoring import QuizScorer, default_tokenization

    console.configure(args.verbose)
    files = {str(f): read_quiz(f)[: args.limit] if args.limit else read_quiz(f) for f in args.input}
    index = load_index(args.retrieval) if args.retrieval else None
    template = load_template(args.template_file) if args.template_file else QuizTemplate()
    model, tok, adapter, max_len = load_for_quiz(args.model, args.prompt_format, args.max_len, args.device, args.dtype)
    scorer = QuizScorer(model, tok, adapter, args.scoring, prompt_style=args.prompt_style, template=template,
                        max_len=max_len, batch_size=args.batch_size, loglik_target=args.loglik_target,
                        max_new_tokens=args.max_new_tokens,
                        loglik_tokenization=args.loglik_tokenization or default_tokenization(args.model),
                        target_delimiter=args.target_delimiter,
                        add_bos_token=None if args.add_bos_token is None else args.add_bos_token == "true")
    records, timing = [], {"first_pass": 0.0, "search": 0.0, "second_pass": 0.0}
    for items in files.values():
        t = time.perf_counter()
        first = scorer.score(items)
        timing["first_pass"] += time.perf_counter() - t
        recs = [_record(it, s, args.scoring) for it, s in zip(items, first)]
        if index is not None:
            fire = [args.retrieve_all or gate_fires(r["confidence"], r["margin"], args.gate_top1, args.gate_margin)
                    for r in recs]
            t = time.perf_counter()
            found = {i: retrieve_for(index, items[i].question, items[i].choices, args.retrieval_k, args.max_passages)
                     for i, f in enumerate(fire) if f}
            timing["search"] += time.perf_counter() - t
            chosen = [i for i, ps in found.items() if ps]  # nothing found: the first pass stands
            passages = [found[i] for i in chosen]
            t = time.perf_counter()
            second = scorer.score([items[i] for i in chosen], passages) if chosen else []
            timing["second_pass"] += time.perf_counter() - t
            for r, f in zip(recs, fire):
                r["first_pass"] = {k: r[k] for k in ("pred", "correct", "probs", "confidence", "margin", "raw")}
                r["gate_fired"] = bool(f)
            for i, ps, s in zip(chosen, passages, second):
                new = _record(items[i], s, args.scoring)
                new.update(retrieval_used=True, gate_fired=True, passages=[p["id"] for p in ps],
                           first_pass=recs[i]["first_pass"])
                recs[i] = new
        records += recs
    settings = {k: (str(v) if isinstance(v, Path) else v) for k, v in vars(args).items() if k != "output"}
    settings["input"] = [str(f) for f in args.input]
    settings["max_len_used"] = max_len
    settings["loglik_tokenization"] = scorer.loglik_tokenization
    settings["parameters"] = sum(p.numel() for p in model.parameters())  # for sweeps across model sizes
    return write_outputs(args.output_dir, records, list(files), settings, timing)


def _harness_figures(block: dict) -> str:
    h = block.get("lm_eval")
    return f"\tacc {h['acc']:.4f}\tacc_norm {h['acc_norm']:.4f}" if h else ""


@reports_input_errors
def main(argv: list[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    # predict.py may pass its own `--task quiz` through
    for flag in ("--task=quiz",):
        while flag in argv:
            argv.remove(flag)
    while "--task" in argv:
        i = argv.index("--task")
        del argv[i: i + 2]
    if argv[:1] == ["tune-gate"]:
        from qgen.cli.quiz_gate import main as tune_gate_main

        with invoked_as(f"{command_prog('qgen quiz')} tune-gate"):
            return tune_gate_main(argv[1:])
    if argv[:1] == ["sweep"]:
        from qgen.cli.quiz_sweep import main as sweep_main

        with invoked_as(f"{command_prog('qgen quiz')} sweep"):
            return sweep_main(argv[1:])
    if argv[:1] == ["eval"]:
        argv = argv[1:]
    parser = build_parser()
    args = parser.parse_args(argv)
    if args.output is not None:
        parser.error(f"--output {args.output}: a quiz run writes several files (result.json, result.log, "
                     "metrics.json, reliability.png); name a directory with --output-dir")
    if args.retrieve_all and not args.retrieval:
        parser.error("--retrieve-all needs --retrieval INDEX")
    if args.output_dir.exists() and not args.output_dir.is_dir():
        raise QgenInputError("exists and is not a directory (--output-dir names a directory)", path=args.output_dir)
    metrics, written = evaluate(args)
    for name, m in metrics["files"].items():
        print(f"{name}\taccuracy {m['final']['accuracy']:.4f}\t(n={m['final']['n']}){_harness_figures(m)}")
    o = metrics["overall"]
    line = f"overall\taccuracy {o['final']['accuracy']:.4f}\t(n={o['final']['n']}){_harness_figures(o)}"
    if "retrieval" in o:
        rv = o["retrieval"]
        line += f"\twithout retrieval {o['first_pass']['accuracy']:.4f}\tretrieval rate {rv['rate']:.3f}"
    print(line)
    print(f"wrote {', '.join(p.name for p in written)} to {args.output_dir}")
    return 0

