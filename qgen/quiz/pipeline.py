"""The quiz pipeline as a Python API: `run_quiz(QuizSettings(...))` scores multiple-choice quiz files with a causal
model (optionally re-scoring low-confidence questions with BM25-retrieved passages) and writes the result files.

    from qgen.quiz.pipeline import QuizSettings, run_quiz
    result = run_quiz(QuizSettings(model="runs/quiz/best", input=["dev.json"], output_dir="results/"))
    result.metrics["overall"]["final"]["accuracy"]

`qgen quiz` / `predict.py --task quiz` derive their flags from QuizSettings (qgen.cli.dataclass_args), so each
default, choice and check is here once; the command only parses, prints and exits. Writes (atomically) result.json,
result.log, metrics.json and reliability.png (reliability_first_pass.png too with retrieval) into `output_dir`;
the record fields and the gate rule are described in qgen.cli.quiz. Bad input is a QgenInputError (or, for settings
that cannot work together, a ValueError from QuizSettings), never a printed line or an exit.
"""

from __future__ import annotations

import dataclasses
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from qgen.core import console
from qgen.core.constants import DTYPE_NAMES
from qgen.core.errors import QgenInputError
from qgen.core.outputs import check_output, check_outputs
from qgen.core.threads import THREADS_HELP, auto_threads, check_threads, describe
from qgen.core.values import MAX_TOKENS, check_finite, check_range
from qgen.data.quiz import QuizTemplate, load_template
from qgen.evaluation.calibration import confidence
from qgen.inference.loader import InferenceModel, load_inference_model
from qgen.models.formats.sequence import make_format
from qgen.quiz.prompt import QuizItem, read_quiz
from qgen.quiz.report import OUTPUT_NAMES, write_outputs
from qgen.quiz.retrieval import Index, gate_fires, load_index, retrieve_for
from qgen.quiz.tokenization import METHODS, TOKENIZATIONS, default_tokenization

if TYPE_CHECKING:  # torch: imported where a model is loaded
    from qgen.models.formats.causal import CausalFormat
    from qgen.quiz.scoring import QuizScorer, Scored


def _f(default: Any, help_: str, **meta: Any) -> Any:
    """A field with its flag's help (and `choices`, `group`: see qgen.cli.dataclass_args); _REQUIRED: no default."""
    if default is _REQUIRED:
        return field(metadata={"help": help_, **meta})
    return field(default=default, metadata={"help": help_, **meta})


_REQUIRED = dataclasses.MISSING


@dataclass
class QuizSettings:
    """One quiz run. The field order is the order of `settings` in metrics.json; the help texts are the flags'."""

    model: str = _f(_REQUIRED, "checkpoint directory (e.g. runs/quiz/best) or hub id")
    input: list[Path] = _f(_REQUIRED, "eval-style (or train-style) quiz JSON files")
    output_dir: Path = _f(_REQUIRED, "directory for result.json, result.log, metrics.json and reliability.png")
    scoring: str = _f("choice-token", "how a choice is picked", choices=METHODS)
    loglik_target: str = _f("text", "loglik continuation: the choice text, or the whole answer 'N: text'",
                            choices=("text", "answer"))
    loglik_tokenization: str | None = _f(
        None, "loglik: apart = prompt and choice encoded separately (how qgen trains); joint = lm-evaluation-harness "
        "0.4's split of prompt+choice (default: apart for a checkpoint with qgen_config.yaml, joint otherwise)",
        choices=TOKENIZATIONS)
    target_delimiter: str = _f("", "loglik: text put before each choice (the harness's task default is ' '; "
                               "default '')")
    add_bos_token: bool | None = _f(None, "joint: the harness's add_bos_token model argument (default: unset, as "
                                    "there: the tokenizer's own special tokens)")
    prompt_style: str = _f("train", "train: re-render with the quiz train template; record: the record's own "
                           "instruction/input", choices=("train", "record"))
    template_file: Path | None = _f(None, "JSON/YAML QuizTemplate overrides (as in prepare_quiz)")
    prompt_format: str | None = _f(None, "override the checkpoint's prompt format (auto, chat, opencalm …)")
    max_len: int | None = _f(None, "context tokens (default: the checkpoint's max_len)")
    batch_size: int = _f(8, "questions per forward pass")
    max_new_tokens: int = _f(24, "generate: answer tokens")
    limit: int | None = _f(None, "first N questions of each file")
    device: str = _f("cpu", "torch device (cpu, cuda, auto)")
    dtype: str = _f("auto", "weights dtype", choices=DTYPE_NAMES)
    verbose: bool = _f(False, "also show transformers' loading bars and warnings")
    trust_remote_code: bool = _f(False, "run the model's own Python code (its auto_map); only for code you trust — "
                                 "never taken from the checkpoint's files")
    retrieval: Path | None = _f(None, "BM25 index directory (qgen index build)", group="retrieval")
    gate_top1: float = _f(0.5, "retrieve when top-1 probability < P", group="retrieval")
    gate_margin: float = _f(0.0, "… or when top-1 minus top-2 < M", group="retrieval")
    retrieve_all: bool = _f(False, "retrieve for every question (input for tune-gate)", group="retrieval")
    retrieval_k: int = _f(1, "passages per choice query", group="retrieval")
    max_passages: int = _f(5, "passages per question", group="retrieval")
    threads: int = _f(0, THREADS_HELP)

    def __post_init__(self):
        self.model = str(self.model)
        self.input = [Path(self.input)] if isinstance(self.input, (str, Path)) else [Path(p) for p in self.input]
        self.output_dir = Path(self.output_dir)
        self.template_file = None if self.template_file is None else Path(self.template_file)
        self.retrieval = None if self.retrieval is None else Path(self.retrieval)
        for f in dataclasses.fields(self):
            value, choices = getattr(self, f.name), f.metadata.get("choices")
            if choices and value not in choices and not (value is None and f.default is None):
                raise ValueError(f"{f.name} must be one of {', '.join(choices)}, not {value!r}")
        if not self.input:
            raise ValueError("input: no quiz file given")
        if self.batch_size < 1:
            raise ValueError(f"batch_size must be at least 1, not {self.batch_size}")
        check_finite(self)
        for name in ("max_new_tokens", "max_len"):
            if getattr(self, name) is not None:
                check_range(name, getattr(self, name), 1, MAX_TOKENS)
        for name in ("retrieval_k", "max_passages", "limit"):
            if getattr(self, name) is not None:
                check_range(name, getattr(self, name), 1)
        try:
            check_threads(self.threads)
        except ValueError as e:
            raise ValueError(f"threads {e}") from None
        if self.retrieve_all and self.retrieval is None:
            raise ValueError("retrieve_all needs retrieval (a BM25 index directory)")

    def record(self) -> dict:
        """The settings as metrics.json keeps them: paths as strings, add_bos_token as "true" / "false" / null (how
        the flag spelt it)."""
        out = {}
        for f in dataclasses.fields(self):
            value = getattr(self, f.name)
            if isinstance(value, Path):
                value = str(value)
            elif f.name == "input":
                value = [str(p) for p in value]
            elif f.name == "add_bos_token" and value is not None:
                value = "true" if value else "false"
            out[f.name] = value
        return out


@dataclass
class QuizResult:
    """What a quiz run gives back: its metrics and the files it wrote."""

    metrics: dict  # what metrics.json holds: per file and overall blocks, coverage curve, timing, settings
    records: list[dict]  # what result.json holds: one record per question
    written: list[Path]  # the files written into output_dir


def load_for_quiz(model_path: str, prompt_format: str | None, max_len: int | None, device: str, dtype: str,
                  trust_remote_code: bool = False):
    """(model, tokenizer, causal format, max_len) built the way the checkpoint was trained (its saved InputSpec), via
    the shared inference loader (full checkpoints, LoRA adapter directories, hub names)."""
    im = load_inference_model(model_path, device=device, dtype=dtype, trust_remote_code=trust_remote_code)
    causal_format, max_len = quiz_format(im, prompt_format, max_len)
    return im.model, im.tokenizer, causal_format, max_len


def quiz_format(im: InferenceModel, prompt_format: str | None = None,
                max_len: int | None = None) -> tuple[CausalFormat, int]:
    """(causal format, max_len) for quiz prompts of a loaded causal InferenceModel (also `qgen serve`'s, which holds the
    model already): the saved max_len and prompt format unless given, capped at the model's context."""
    if im.kind != "causal":
        raise QgenInputError("quiz scoring needs a causal (decoder-only) model", path=im.path)
    config = im.model.config
    context = getattr(config, "max_position_embeddings", None) or getattr(config, "n_positions", None) or 2048
    max_len = min(max_len or im.spec.max_len, context)
    spec = dataclasses.replace(im.spec, max_len=max_len, prompt_format=prompt_format or im.spec.prompt_format)
    return make_format("causal", im.tokenizer, spec), max_len


def _record(item: QuizItem, scored: Scored, method: str) -> dict:
    """result.json's record of one question."""
    top1, margin = confidence([scored.probs])
    return {"id": item.id, "file": item.file, "question": item.question, "choices": item.choices, "gold": item.gold,
            "pred": scored.pred, "correct": scored.pred is not None and scored.pred == item.gold,
            "probs": [round(p, 6) for p in scored.probs], "confidence": float(top1[0]), "margin": float(margin[0]),
            "scoring": method, "scores": scored.scores, "raw": scored.raw,
            "unparseable": method == "generate" and scored.pred is None,
            "prompt_tokens": scored.prompt_tokens, "cut": scored.cut, "retrieval_used": False, "passages": [],
            "prompt": scored.prompt, **_loglik_fields(item, scored)}


def _loglik_fields(item: QuizItem, scored: Scored) -> dict:
    """loglik scorings: both lm-evaluation-harness predictions (acc: sum of log-probs; acc_norm: per character)."""
    if "pred_acc" not in scored.extra:
        return {}
    return {"pred_acc": scored.extra["pred_acc"], "pred_acc_norm": scored.extra["pred_acc_norm"],
            "acc": scored.extra["pred_acc"] == item.gold, "acc_norm": scored.extra["pred_acc_norm"] == item.gold,
            "continuation_chars": scored.extra["continuation_chars"]}


def _rescore_gated(s: QuizSettings, scorer: QuizScorer, index: Index, items: list[QuizItem], recs: list[dict],
                   timing: dict) -> None:
    """The gate: questions whose first answer is unsure are re-scored with retrieved passages (in place in `recs`);
    when BM25 finds nothing the first answer stands (gate_fired true, retrieval_used false)."""
    fire = [s.retrieve_all or gate_fires(r["confidence"], r["margin"], s.gate_top1, s.gate_margin) for r in recs]
    t = time.perf_counter()
    found = {i: retrieve_for(index, items[i].question, items[i].choices, s.retrieval_k, s.max_passages)
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
    for i, ps, scored in zip(chosen, passages, second):
        new = _record(items[i], scored, s.scoring)
        new.update(retrieval_used=True, gate_fired=True, passages=[p["id"] for p in ps],
                   first_pass=recs[i]["first_pass"])
        recs[i] = new


def run_quiz(s: QuizSettings, progress: bool = False) -> QuizResult:
    """Score every file (and re-score gated questions with retrieval), write the outputs into `s.output_dir`.
    `progress`: say on stderr what is loaded, then how far the scoring is (a bar, or plain lines in a log)."""
    check_output(s.output_dir, "output_dir", directory=True)  # before any work: a file there, not writable …
    check_outputs([("--output-dir", s.output_dir / name) for name in OUTPUT_NAMES],
                  [*(("--input", f) for f in s.input), ("--template-file", s.template_file)])
    console.configure(s.verbose)
    files = {str(f): read_quiz(f)[: s.limit] if s.limit else read_quiz(f) for f in s.input}
    index = load_index(s.retrieval) if s.retrieval else None
    template = load_template(s.template_file) if s.template_file else QuizTemplate()
    n = sum(len(items) for items in files.values())
    threads = s.threads or auto_threads()
    if progress:
        print(f"quiz: {n} questions in {len(files)} file(s); loading {s.model} ({describe(s.threads, threads)}) …",
              file=sys.stderr, flush=True)
    from qgen.models.threads import set_threads  # torch: the settings and their checks stay torch-free
    from qgen.quiz.scoring import QuizScorer  # torch, as above

    set_threads(threads)

    model, tok, causal_format, max_len = load_for_quiz(s.model, s.prompt_format, s.max_len, s.device, s.dtype,
                                                 s.trust_remote_code)
    scorer = QuizScorer(model, tok, causal_format, s.scoring, prompt_style=s.prompt_style, template=template,
                        max_len=max_len, batch_size=s.batch_size, loglik_target=s.loglik_target,
                        max_new_tokens=s.max_new_tokens,
                        loglik_tokenization=s.loglik_tokenization or default_tokenization(s.model),
                        target_delimiter=s.target_delimiter, add_bos_token=s.add_bos_token)
    records, timing = [], {"first_pass": 0.0, "search": 0.0, "second_pass": 0.0}
    bar = console.progress(n, "scoring", "q") if progress else None
    for items in files.values():
        t = time.perf_counter()
        first = scorer.score(items, bar=bar)
        timing["first_pass"] += time.perf_counter() - t
        recs = [_record(it, scored, s.scoring) for it, scored in zip(items, first)]
        if index is not None:
            _rescore_gated(s, scorer, index, items, recs, timing)
        records += recs
    if bar is not None:
        bar.close()
    settings = s.record()
    settings["max_len_used"] = max_len
    settings["loglik_tokenization"] = scorer.loglik_tokenization
    settings["parameters"] = sum(p.numel() for p in model.parameters())  # for sweeps across model sizes
    metrics, written = write_outputs(s.output_dir, records, list(files), settings, timing)
    return QuizResult(metrics, records, written)
