"""Check qgen's protocol figures against the reference implementations themselves, on the same predictions.

    # QG: qgen's `--protocol lmqg` vs lmqg's own compute_metrics (lmqg 0.1.1 from PyPI, its sources unpacked in a
    # temporary folder and imported from there: never part of qgen) on a predictions JSONL of predict.py
    python bench/protocol_compare.py qg --predictions preds.jsonl
    python bench/protocol_compare.py qg --synthetic-from dev_para.tsv   # predictions made from the gold questions
    # QA: qgen's --qa-metric harness / llm-jp-eval vs the Stability-AI harness's lm_eval/jasquad/evaluate.py and
    # llm-jp-eval's jsquad metric (fuzzywuzzy) on answers derived from JSQuAD valid (gold, trimmed, padded, prefixed,
    # width-changed, another question's answer)
    python bench/protocol_compare.py qa --jsquad $QGEN_DATA_DIR/jglue/jsquad-v1.3/valid-v1.3.json \
        --harness-evaluate PATH/TO/lm-evaluation-harness/lm_eval/jasquad/evaluate.py

Sources: lmqg 0.1.1 (`pip download lmqg==0.1.1`, identical to asahi417/lm-question-generation HEAD dde629c for
automatic_evaluation.py); its METEOR wrapper expects meteor-1.5.jar beside it, which the sdist lacks: the jar and data of
pycocoevalcap 1.2 (the same METEOR 1.5) are copied there. ja_core_news_sm cannot be installed here (no hub), so lmqg's
SpacyPipeline is given spaCy's blank Japanese pipeline, whose tokenizer is the one ja_core_news_sm configures
(SudachiPy split mode A). The harness file is from Stability-AI/lm-evaluation-harness branch jp-stable (effdbea).
llm-jp-eval's repository could not be fetched here: its jsquad metric is rebuilt in this script from its published
v1.x utils (NFKC; prediction cut at the first blank line; strip + lower + 回答:/答え: removed; exact_match `==`;
char_f1 = fuzzywuzzy.fuzz.token_sort_ratio / 100 with python-Levenshtein), run with fuzzywuzzy itself.
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import os
import shutil
import subprocess
import sys
import tempfile
import types
import unicodedata
from pathlib import Path

HERE = Path(__file__).resolve().parent.parent


def _pip(*args: str) -> None:
    subprocess.run([sys.executable, "-m", "pip", "-q", *args], check=True)


def _load(name: str, path: Path):
    spec = importlib.util.spec_from_file_location(name, path)
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module
    spec.loader.exec_module(module)
    return module


def lmqg_compute_metrics(src: Path):
    """lmqg.automatic_evaluation.compute_metrics from the unpacked sdist, with only the modules it needs for BLEU,
    ROUGE-L and METEOR (its BERTScore / MoverScore / model code is stubbed: not compared)."""
    import spacy

    root = src / "lmqg"
    for pkg, path in (("lmqg", root), ("lmqg.automatic_evaluation_tool", root / "automatic_evaluation_tool"),
                      ("lmqg.automatic_evaluation_tool.bleu", root / "automatic_evaluation_tool/bleu"),
                      ("lmqg.automatic_evaluation_tool.meteor", root / "automatic_evaluation_tool/meteor")):
        module = types.ModuleType(pkg)
        module.__path__ = [str(path)]
        sys.modules[pkg] = module
    tool = sys.modules["lmqg.automatic_evaluation_tool"]

    class Skipped:  # constructed by compute_metrics, then dropped by its `skip` list
        def __init__(self, *args, **kwargs):
            pass

    for name in ("bertscore", "moverscore", "qa_aligned_f1_score"):
        stub = types.ModuleType(f"lmqg.automatic_evaluation_tool.{name}")
        stub.BERTScore = stub.MoverScore = stub.QAAlignedF1Score = Skipped
        sys.modules[stub.__name__] = stub
    stub = types.ModuleType("lmqg.language_model")
    stub.TransformersQG = object
    sys.modules[stub.__name__] = stub
    stub = types.ModuleType("lmqg.data")
    stub.get_reference_files = stub.get_dataset = None
    sys.modules[stub.__name__] = stub

    class SpacyPipeline:  # lmqg.spacy_module.SpacyPipeline.token, on ja_core_news_sm's tokenizer
        def __init__(self, language, algorithm=None):
            self.nlp = spacy.blank(language)

        def token(self, string):
            return [str(i) for i in self.nlp.tokenizer(string)]

    stub = types.ModuleType("lmqg.spacy_module")
    stub.SpacyPipeline = SpacyPipeline
    sys.modules[stub.__name__] = stub
    _load("lmqg.automatic_evaluation_tool.text_normalization", root / "automatic_evaluation_tool/text_normalization.py")
    tool.text_normalization = sys.modules["lmqg.automatic_evaluation_tool.text_normalization"]
    return _load("lmqg.automatic_evaluation", root / "automatic_evaluation.py").compute_metrics


def fetch_lmqg(workdir: Path) -> Path:
    _pip("download", "--no-deps", "--no-binary", ":all:", "lmqg==0.1.1", "-d", str(workdir))
    shutil.unpack_archive(str(next(workdir.glob("lmqg-0.1.1.tar.gz"))), str(workdir))
    return add_meteor_jar(workdir / "lmqg-0.1.1")


def add_meteor_jar(src: Path) -> Path:
    """lmqg's METEOR wrapper runs meteor-1.5.jar from its own folder; the sdist lacks it: pycocoevalcap's copy."""
    from pycocoevalcap.meteor import meteor as coco_meteor  # the METEOR 1.5 jar and its data

    jar_dir = Path(coco_meteor.__file__).parent
    target = src / "lmqg/automatic_evaluation_tool/meteor"
    shutil.copy(jar_dir / "meteor-1.5.jar", target)
    shutil.copytree(jar_dir / "data", target / "data", dirs_exist_ok=True)
    return src


def synthetic(tsv: Path) -> list[dict]:
    """Prediction records from an AQG-HL TSV (id, source, question): the gold question, another record's question, a
    half-and-half splice, or the gold question with brackets and quotes added, in turn."""
    rows = [line.rstrip("\n").split("\t") for line in tsv.open(encoding="utf-8")]
    out = []
    for i, (id_, source, question) in enumerate(rows):
        other = rows[(i * 7 + 3) % len(rows)][2]
        pred = [question, other, question[: len(question) // 2] + other[len(other) // 2:], f'(注) {question} "引用"'][i % 4]
        out.append({"id": id_, "source": source, "prediction": pred, "target": question})
    return out


def compare_qg(args) -> None:
    sys.path.insert(0, str(HERE))
    from qgen.evaluation import lmqg_protocol as L
    from qgen.evaluation.records import read_predictions, reference_from_source

    records = synthetic(args.synthetic_from) if args.synthetic_from else read_predictions(args.predictions, "source")
    records = records[: args.limit or None]
    sentences = [reference_from_source(L.answer_sentence(r["source"])) for r in records]
    golds = [r["target"] if isinstance(r["target"], str) else r["target"][0] for r in records]
    preds = [r["prediction"] for r in records]
    ours = L.lmqg_scores(preds, golds, sentences)

    work = Path(tempfile.mkdtemp(prefix="lmqg-ref-"))
    compute_metrics = lmqg_compute_metrics(add_meteor_jar(Path(args.lmqg_src)) if args.lmqg_src else fetch_lmqg(work))
    files = {}
    for name, lines in (("out", preds), ("tgt", golds), ("src", sentences)):
        files[name] = work / f"{name}.txt"
        files[name].write_text("\n".join(x.replace("\n", " ") for x in lines) + "\n", encoding="utf-8")
    cwd = os.getcwd()
    os.chdir(work)  # lmqg's METEOR finds its jar relative to its own file; nothing else depends on the folder
    try:
        theirs = compute_metrics(str(files["out"]), str(files["tgt"]), str(files["src"]),
                                 prediction_aggregation="first", language="ja", skip=["BERTScore", "MoverScore"])
    finally:
        os.chdir(cwd)
    print(f"{len(records)} predictions, {ours['groups']} sentence groups ({args.predictions or args.synthetic_from})")
    print(f"{'figure':<10}{'qgen':>12}{'lmqg':>12}{'|diff|':>12}")
    worst = 0.0
    for mine, ref in (("bleu1", "Bleu_1"), ("bleu2", "Bleu_2"), ("bleu3", "Bleu_3"), ("bleu4", "Bleu_4"),
                      ("rougeL", "ROUGE_L"), ("meteor", "METEOR")):
        a, b = ours[mine], 100 * float(theirs[ref])
        worst = max(worst, abs(a - b))
        print(f"{mine:<10}{a:>12.6f}{b:>12.6f}{abs(a - b):>12.2e}")
    print(f"max |diff| {worst:.2e} (0-100 scale)")


def _answers(jsquad: Path, limit: int) -> tuple[list[str], list[list[str]], list[str]]:
    """(ids, gold answer lists, predictions): gold answers changed in the ways model outputs differ from them."""
    data = json.loads(jsquad.read_text(encoding="utf-8"))["data"]
    qas = [q for a in data for p in a["paragraphs"] for q in p["qas"]][:limit]
    ids, golds, preds = [], [], []
    for i, q in enumerate(qas):
        gold = [a["text"] for a in q["answers"]]
        first, other = gold[0], qas[(i * 7 + 3) % len(qas)]["answers"][0]["text"]
        variant = i % 8
        pred = [first, first + "です", first[:-1] or first, "回答: " + first,
                unicodedata.normalize("NFKC", first).translate(str.maketrans("0123456789", "０１２３４５６７８９")),
                first + "。", other, f"{first}\n\nなぜなら本文にそうある"][variant]
        ids.append(q["id"])
        golds.append(gold)
        preds.append(pred)
    return ids, golds, preds


def _llmjp_reference(preds: list[str], golds: list[list[str]]) -> tuple[list[float], list[float]]:
    from fuzzywuzzy import fuzz  # installed into a temporary folder by this script

    def fmt(text: str) -> str:  # llm-jp-eval v1.x text_formatter for jsquad
        text = text.strip().lower()
        for r in ["回答:", "回答: ", "答え:", "答え: "]:
            text = text.replace(r, "")
        return text

    em, f1 = [], []
    for p, g in zip(preds, golds):
        y_pred = fmt(unicodedata.normalize("NFKC", p).split("\n\n")[0])
        y_true = fmt(unicodedata.normalize("NFKC", g[0]))
        em.append((y_pred == y_true) * 1.0)
        f1.append(fuzz.token_sort_ratio(y_pred, y_true) / 100.0)
    return em, f1


def compare_qa(args) -> None:
    sys.path.insert(0, str(HERE))
    from qgen.evaluation import qa_metrics as Q

    ids, golds, preds = _answers(Path(args.jsquad), args.limit)
    print(f"{len(preds)} answers from {args.jsquad} (8 variants of the gold answer, in turn)")
    rows = []
    if args.harness_evaluate:
        harness = _load("jasquad_evaluate", Path(args.harness_evaluate))
        ref_em = [float(harness.metric_max_over_ground_truths(harness.exact_match_score, p, g)) for p, g in zip(preds, golds)]
        ref_f1 = [float(harness.metric_max_over_ground_truths(harness.f1_score, p, g)) for p, g in zip(preds, golds)]
        rows.append(("harness", *Q.qa_scores(preds, golds, "harness"), ref_em, ref_f1))
    else:
        print("(no --harness-evaluate: the harness comparison is skipped)")
    target = Path(tempfile.mkdtemp(prefix="fuzzywuzzy-"))
    _pip("install", "--target", str(target), "fuzzywuzzy==0.18.0", "python-Levenshtein")
    sys.path.insert(0, str(target))
    rows.append(("llm-jp-eval", *Q.qa_scores(preds, golds, "llm-jp-eval"), *_llmjp_reference(preds, golds)))
    for name, em, f1, ref_em, ref_f1 in rows:
        d_em = max(abs(a - b) for a, b in zip(em, ref_em))
        d_f1 = max(abs(a - b) for a, b in zip(f1, ref_f1))
        n_diff = sum(1 for a, b in zip(f1, ref_f1) if abs(a - b) > 1e-12)
        print(f"{name:<12} EM qgen {sum(em) / len(em):.6f} ref {sum(ref_em) / len(ref_em):.6f} max|diff| {d_em:.2e}; "
              f"F1 qgen {sum(f1) / len(f1):.6f} ref {sum(ref_f1) / len(ref_f1):.6f} max|diff| {d_f1:.2e} "
              f"({n_diff} items differ)")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = ap.add_subparsers(dest="what", required=True)
    qg = sub.add_parser("qg")
    given = qg.add_mutually_exclusive_group(required=True)
    given.add_argument("--predictions", type=Path, help="a predict.py JSONL (source with <hl>, prediction, target)")
    given.add_argument("--synthetic-from", type=Path, help="an AQG-HL TSV: predictions made from its questions")
    qg.add_argument("--lmqg-src", help="an unpacked lmqg-0.1.1 sdist (default: pip download it)")
    qg.add_argument("--limit", type=int, default=0)
    qa = sub.add_parser("qa")
    qa.add_argument("--jsquad", required=True)
    qa.add_argument("--harness-evaluate", help="lm_eval/jasquad/evaluate.py of Stability-AI's jp-stable harness")
    qa.add_argument("--limit", type=int, default=4442)
    args = ap.parse_args()
    try:
        (compare_qg if args.what == "qg" else compare_qa)(args)
    except FileNotFoundError as e:
        sys.exit(f"error: {e}")


if __name__ == "__main__":
    main()
