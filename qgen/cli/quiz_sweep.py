"""`qgen quiz sweep`: the quiz evaluation for several models (sizes of one family), side by side.

    qgen quiz sweep --models cyberagent/open-calm-small cyberagent/open-calm-medium --input dev1.json dev2.json \\
        --output-dir sweeps/calm --scoring loglik
    qgen quiz sweep --config configs/quiz-sweep/opencalm.yaml --input dev.json --output-dir sweeps/calm

Each model is evaluated exactly as `qgen quiz` would (same flags, same result.json / metrics.json / result.log /
reliability.png in `OUTPUT_DIR/<model>/`), one at a time: the model is released (and the CUDA cache emptied) before the
next one loads. The sweep is resumable: a model whose directory holds the metrics of a run with the same settings is
not run again (`--rerun` forces it), so an interrupted sweep continues where it stopped. Then `sweep.json`,
`sweep.md` (model, parameters, accuracy per file and overall, ECE, Brier, mean confidence, seconds per question; acc /
acc_norm with loglik scoring) and `sweep.png` (accuracy and ECE against the parameter count, log x-axis) are written.

Settings: a `--config` YAML gives defaults (any quiz flag, `dtype: bf16`) and a `models:` list whose entries are a
name or a mapping (`model`, `label`, and per-model flags such as `dtype` or `batch_size`); command-line flags
override the config's defaults, a model's own entry overrides both.
"""

from __future__ import annotations

import argparse
import dataclasses
import gc
import io
import json
import re
import sys
import typing
from argparse import Namespace
from pathlib import Path
from typing import TYPE_CHECKING

from qgen.cli.dataclass_args import add_dataclass_args
from qgen.cli.parser import ArgumentParser, command_prog, output_dir, reports_input_errors
from qgen.core import yaml_file
from qgen.core.errors import QgenInputError
from qgen.core.files import atomic_write, write_json, write_text
from qgen.core.values import coerce

if TYPE_CHECKING:
    from qgen.quiz.pipeline import QuizSettings  # torch (the scorer): only its type is named at the top

# the QuizSettings fields a sweep passes on to every model's run; a config key or a model entry may set any of them
PASSED = ("scoring", "loglik_tokenization", "loglik_target", "target_delimiter", "add_bos_token", "prompt_style",
          "prompt_format", "template_file", "max_len", "batch_size", "limit", "device", "dtype")
RUN_FILE = "sweep_run.json"


def _quiz_settings_class() -> type[QuizSettings]:
    """QuizSettings, imported when a sweep's flags are built or a model runs (torch: `--help` and bad flags stay fast)."""
    from qgen.quiz.pipeline import QuizSettings  # torch, as the docstring says

    return QuizSettings


def _passed_types() -> dict[str, type]:
    """Each PASSED field's type without `| None` (the type a config value is read as)."""
    hints = typing.get_type_hints(_quiz_settings_class())
    out = {}
    for name in PASSED:
        kinds = [k for k in typing.get_args(hints[name]) if k is not type(None)] or [hints[name]]
        out[name] = kinds[0]
    return out


def _overridable() -> type:
    """The PASSED fields of QuizSettings with their help and choices, each defaulting to None (not given: the config's,
    else qgen quiz's default applies): the sweep's quiz flags, derived from the one definition."""
    fields = {f.name: f for f in dataclasses.fields(_quiz_settings_class())}
    return dataclasses.make_dataclass("SweepQuizFlags", [
        (name, kind | None, dataclasses.field(default=None, metadata=_help_with_quiz_default(fields[name])))
        for name, kind in _passed_types().items()])


def _help_with_quiz_default(f: dataclasses.Field) -> dict:
    """`f`'s metadata with qgen quiz's default in its help (the flag's own default, None, is not shown)."""
    shown = "" if f.default is None or "default" in f.metadata["help"] else f" (default: {f.default})"
    return {**f.metadata, "help": f.metadata["help"] + shown + "%(default).0s"}


def build_parser() -> argparse.ArgumentParser:
    """The sweep's own flags, then the quiz flags it passes on (qgen quiz's, from QuizSettings)."""
    p = ArgumentParser(prog=command_prog("qgen quiz sweep"),
                       description="Run the quiz evaluation for several models and compare them (sweep.json, "
                       "sweep.md, sweep.png).")
    p.add_argument("--models", nargs="+", default=None, help="checkpoint directories or hub names")
    p.add_argument("--config", type=Path, default=None, help="YAML with defaults and a models: list (see configs/)")
    p.add_argument("--input", nargs="+", required=True, type=Path, help="quiz JSON files (as for qgen quiz)")
    p.add_argument("--output-dir", required=True, type=output_dir, help="one sub-directory per model, plus the sweep files")
    p.add_argument("--rerun", action="store_true", help="run every model again, even when finished")
    p.add_argument("--verbose", action="store_true", help="also show transformers' loading bars and warnings")
    add_dataclass_args(p, _overridable(), title="quiz settings (as in qgen quiz; default: the config's, else qgen quiz's)")
    return p


def _typed(values: dict, kinds: dict[str, type], path: Path | None, record: int | None = None) -> dict:
    """A config's settings read as their QuizSettings types (`batch_size: "8"` → 8, `add_bos_token: yes` → True);
    a value that is not one is an error naming the file, the model entry and the key."""
    out = {}
    for key, value in values.items():
        if key not in kinds or value is None:
            out[key] = value
            continue
        try:
            out[key] = Path(str(value)) if kinds[key] is Path else coerce(value, kinds[key])
        except (TypeError, ValueError):
            raise QgenInputError(f"expected {kinds[key].__name__}, got {value!r}", path=path, record=record,
                                 field=key) from None
    return out


def slug(model: str) -> str:
    """A directory name for a model: `cyberagent/open-calm-small` → `cyberagent__open-calm-small`."""
    return re.sub(r"[^A-Za-z0-9._-]+", "_", str(model).replace("/", "__")).strip("_.") or "model"


def load_config(path: Path) -> tuple[dict, list[dict]]:
    """(defaults, model entries) of a sweep YAML, values typed as QuizSettings types them; unknown keys and values
    of the wrong type are errors naming the file and the entry."""
    if not path.is_file():
        raise QgenInputError("sweep config not found" if not path.exists() else "is a directory, not a YAML file",
                             path=path)
    data = yaml_file.load(path.read_text(encoding="utf-8"), path) or {}
    if not isinstance(data, dict):
        raise QgenInputError("expected a mapping with a models: list", path=path)
    unknown = set(data) - set(PASSED) - {"models"}
    if unknown:
        raise QgenInputError(f"unknown key(s) {sorted(unknown)}; allowed: models, {', '.join(PASSED)}", path=path)
    kinds = _passed_types()
    entries = []
    for n, entry in enumerate(data.get("models") or [], 1):
        if isinstance(entry, str):
            entry = {"model": entry}
        if not isinstance(entry, dict) or not isinstance(entry.get("model"), str):
            raise QgenInputError("a models: entry must be a name or a mapping with model:", path=path,
                                 record=n, field="models")
        bad = set(entry) - set(PASSED) - {"model", "label"}
        if bad:
            raise QgenInputError(f"unknown key(s) {sorted(bad)}", path=path, record=n, field="models")
        entries.append(_typed(entry, kinds, path, n))
    return _typed({k: v for k, v in data.items() if k != "models"}, kinds, path), entries


def plan(args: Namespace) -> list[dict]:
    """One entry per model: {model, label, settings} with the precedence config < command line < model entry."""
    defaults, entries = load_config(args.config) if args.config else ({}, [])
    if args.models:
        entries = [{"model": m} for m in args.models]  # the command line's models replace the config's list
    if not entries:
        raise QgenInputError("no models: give --models or a --config with a models: list")
    given = _typed({k: getattr(args, k) for k in PASSED if getattr(args, k) is not None}, _passed_types(), None)
    out, seen = [], set()
    for entry in entries:
        settings = {**defaults, **given, **{k: v for k, v in entry.items() if k in PASSED}}
        name = slug(entry["model"])
        if name in seen:
            raise QgenInputError(f"model {entry['model']!r} is listed twice", field="models")
        seen.add(name)
        out.append({"model": entry["model"], "label": str(entry.get("label") or entry["model"]), "dir": name,
                    "settings": settings})
    return out


def quiz_settings(entry: dict, args: Namespace) -> QuizSettings:
    """The quiz run of one planned model (its checks: a QgenInputError naming the model)."""
    try:
        return _quiz_settings_class()(model=entry["model"], input=args.input, output_dir=args.output_dir / entry["dir"],
                                      verbose=args.verbose, **entry["settings"])
    except ValueError as e:
        raise QgenInputError(f"model {entry['model']!r}: {e}", path=args.config) from None


def fingerprint(entry: dict, inputs: list[Path], out_dir: Path) -> list[str]:
    """The `qgen quiz` command line equal to this model's run: kept in sweep_run.json, so a finished model counts as
    finished only for the same settings."""
    argv = ["--model", entry["model"], "--input", *map(str, inputs), "--output-dir", str(out_dir)]
    for key, value in entry["settings"].items():
        if value is not None:
            argv += ["--" + key.replace("_", "-"), str(value).lower() if isinstance(value, bool) else str(value)]
    return argv


def _finished(out_dir: Path, argv: list[str]) -> bool:
    """Whether `out_dir` holds the metrics of a run with the same settings (fingerprint `argv`)."""
    try:
        done = json.loads((out_dir / RUN_FILE).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return False
    return done.get("argv") == argv and (out_dir / "metrics.json").is_file()


def run_one(settings: QuizSettings, argv: list[str]) -> None:
    """One model's quiz run (qgen.quiz.pipeline.run_quiz), released before returning, then marked finished."""
    from qgen.quiz import pipeline  # torch (the scorer), as in _quiz_settings_class

    pipeline.run_quiz(settings, progress=True)
    gc.collect()
    try:
        import torch  # only to empty the CUDA cache; the sweep files need none of it

        if torch.cuda.is_available():
            torch.cuda.empty_cache()
    except ImportError:  # pragma: no cover - torch is a dependency; the sweep files need none of it
        pass
    write_json(settings.output_dir / RUN_FILE, {"argv": argv})


def row(entry: dict, out_dir: Path, inputs: list[Path]) -> dict:
    """The sweep's summary of one finished model, read back from its metrics.json."""
    metrics = json.loads((out_dir / "metrics.json").read_text(encoding="utf-8"))
    final = metrics["overall"]["final"]
    r = {"model": entry["model"], "label": entry["label"], "dir": str(out_dir),
         "parameters": metrics["settings"].get("parameters"),
         "files": {f.name: metrics["files"][str(f)]["final"].get("accuracy") for f in inputs},
         "n": final["n"], "accuracy": final.get("accuracy"), "ece": final.get("ece"), "brier": final.get("brier"),
         "mean_confidence": final.get("mean_confidence"),
         "seconds_per_question": metrics["timing"]["seconds_per_question"],
         "scoring": metrics["settings"].get("scoring")}
    if "lm_eval" in metrics["overall"]:
        r["acc"], r["acc_norm"] = metrics["overall"]["lm_eval"]["acc"], metrics["overall"]["lm_eval"]["acc_norm"]
    return r


def human(n: int | None) -> str:
    """A parameter count for a table: 124M, 1.3B ("-" when unknown)."""
    if not n:
        return "-"
    for unit, size in (("B", 1e9), ("M", 1e6), ("K", 1e3)):
        if n >= size:
            return f"{n / size:.3g}{unit}"
    return str(n)


def markdown(rows: list[dict], inputs: list[Path]) -> str:
    """sweep.md: one table row per model (acc / acc_norm columns when any model was scored by log-likelihood)."""

    def f(x: float | None, digits: int = 4) -> str:
        """A table cell: the number, or - when there is none."""
        return "-" if x is None else f"{x:.{digits}f}"

    names = [p.name for p in inputs]
    loglik = any("acc" in r for r in rows)
    head = (["model", "parameters", *(f"accuracy {n}" for n in names), "accuracy", *(["acc", "acc_norm"] if loglik
            else []), "ECE", "Brier", "mean confidence", "s/question"])
    lines = ["| " + " | ".join(head) + " |", "|" + " --- |" * len(head)]
    for r in rows:
        cells = [r["label"], human(r["parameters"]), *(f(r["files"][n]) for n in names), f(r["accuracy"]),
                 *([f(r.get("acc")), f(r.get("acc_norm"))] if loglik else []), f(r["ece"]), f(r["brier"]),
                 f(r["mean_confidence"]), f(r["seconds_per_question"])]
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines) + "\n"


def plot(path: Path, rows: list[dict], inputs: list[Path]) -> None:
    """Accuracy (overall and per file) and ECE against the parameter count, log x-axis, as PNG (written atomically)."""
    import matplotlib  # heavy, and only for the plot

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    pts = sorted((r for r in rows if r["parameters"]), key=lambda r: r["parameters"])
    x = [r["parameters"] for r in pts]
    fig, (left, right) = plt.subplots(1, 2, figsize=(11, 4.2))
    left.plot(x, [r["accuracy"] for r in pts], "o-", color="black", label="overall")
    if len(inputs) > 1:
        for p in inputs:
            left.plot(x, [r["files"][p.name] for r in pts], "o--", alpha=0.7, label=p.name)
    right.plot(x, [r["ece"] for r in pts], "s-", color="tab:red", label="ECE (15 bins)")
    for ax, title, ylabel in ((left, "accuracy", "accuracy"), (right, "calibration", "ECE")):
        ax.set_xscale("log")
        ax.set_xlabel("parameters (log scale)")
        ax.set_ylabel(ylabel)
        ax.set_title(title)
        ax.set_ylim(0, 1)
        ax.grid(True, which="both", alpha=0.3)
        ax.legend(fontsize=8)
        if x:  # room for the end points' labels (one point: drawn in the middle)
            ax.set_xlim(min(x) / 1.6, max(x) * 1.6)
    for r in pts:
        left.annotate(r["label"].rsplit("/", 1)[-1], (r["parameters"], r["accuracy"]), textcoords="offset points",
                      xytext=(4, 6), fontsize=8)
    fig.suptitle(f"quiz sweep ({pts[0]['scoring'] if pts else ''}; n={pts[0]['n'] if pts else 0} questions)")
    fig.tight_layout()
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=100)
    plt.close(fig)
    with atomic_write(path, "wb", encoding=None, newline=None) as fh:
        fh.write(buf.getvalue())


def sweep(args: Namespace) -> tuple[list[dict], list[Path]]:
    """Run (or resume) every model's quiz, then write sweep.json, sweep.md and sweep.png; returns (rows, paths)."""
    for f in args.input:
        if not f.is_file():
            raise QgenInputError("quiz file not found" if not f.exists() else "is a directory, not a quiz file",
                                 path=f, field="--input")
    if args.output_dir.exists() and not args.output_dir.is_dir():
        raise QgenInputError("exists and is not a directory (--output-dir names a directory)", path=args.output_dir)
    entries = plan(args)
    runs = [quiz_settings(entry, args) for entry in entries]  # every model's settings checked before the first runs
    rows = []
    for i, (entry, settings) in enumerate(zip(entries, runs), 1):
        out_dir = settings.output_dir
        argv = fingerprint(entry, args.input, out_dir)
        if not args.rerun and _finished(out_dir, argv):
            print(f"[{i}/{len(entries)}] {entry['label']}: finished before, not run again", flush=True)
        else:
            print(f"[{i}/{len(entries)}] {entry['label']}: running", flush=True)
            run_one(settings, argv)
        rows.append(row(entry, out_dir, args.input))
        r = rows[-1]
        print(f"    accuracy {r['accuracy']:.4f}  ECE {r['ece']:.4f}  parameters {human(r['parameters'])}  "
              f"{r['seconds_per_question']:.4f} s/question", flush=True)
    written = [args.output_dir / n for n in ("sweep.json", "sweep.md", "sweep.png")]
    write_json(written[0], {"inputs": [str(f) for f in args.input], "models": rows})
    write_text(written[1], markdown(rows, args.input))
    plot(written[2], rows, args.input)
    return rows, written


@reports_input_errors
def main(argv: list[str] | None = None) -> int:
    """`qgen quiz sweep`: the sweep, and the paths it wrote."""
    args = build_parser().parse_args(sys.argv[1:] if argv is None else argv)
    _, written = sweep(args)
    print(f"wrote {', '.join(p.name for p in written)} to {args.output_dir}")
    return 0
