"""One table of bad inputs across every command: each must exit 2 with exactly one `error:` line that names the file
(and the line / record / field where there is one), print no traceback, and leave no output file behind.

Commands run in-process through their `main(argv)` (what train.py, predict.py, generate.py, data_prep/*.py and `qgen …`
call), a few as real scripts to cover the wrappers. The model given to inference commands is the reference run's best/
(a tiny T5) or a damaged copy of it.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from .reliability_helpers import REPO, train_env

TSV_OK = "q1\tanswer: 甲府市 context: 山梨県の県庁所在地は甲府市です。\t山梨県の県庁所在地は?\n"
QUIZ_OK = {"id": "a1", "instruction": "問題: 日本の首都は?", "input": "0: 大阪\n1: 東京\n2: 京都", "output": "1: 東京"}
SQUAD_OK = {"data": [{"title": "東京", "paragraphs": [{"context": "東京 [SEP] 東京は日本の首都である。", "qas": [
    {"id": "s1", "question": "日本の首都は?", "answers": [{"text": "東京", "answer_start": 8}]}]}]}]}
PRED_OK = {"id": "p1", "source": "answer: 東京 context: 東京は首都", "prediction": "首都は?", "target": "日本の首都は?"}
MIRRORED = "jglue/jcommonsenseqa-v1.3/train-v1.3.json"
RESULT_OK = {"id": "a1", "file": "dev.json", "correct": True, "confidence": 0.9, "margin": 0.5}


@dataclass
class Ctx:
    """Paths a case builds its command line from; every file a case writes goes under `root`."""

    root: Path
    model: Path  # a good tiny T5 checkpoint (the reference run's best/)

    def file(self, name: str, content: str | bytes | object) -> str:
        path = self.root / name
        path.parent.mkdir(parents=True, exist_ok=True)
        if isinstance(content, bytes):
            path.write_bytes(content)
        elif isinstance(content, str):
            path.write_text(content, encoding="utf-8")
        else:
            path.write_text("\n".join(json.dumps(r, ensure_ascii=False) for r in content) + "\n"
                            if isinstance(content, tuple) else json.dumps(content, ensure_ascii=False),
                            encoding="utf-8")
        return str(path)

    def out(self, name: str) -> str:
        return str(self.root / "out" / name)

    def damaged_model(self, damage) -> str:
        path = self.root / "model"
        shutil.copytree(self.model, path)
        damage(path)
        return str(path)


@dataclass
class Case:
    id: str
    command: str  # key of COMMANDS
    argv: object  # Ctx -> list[str]
    says: tuple[str, ...]  # fragments of the error line (besides the file, which `names` gives)
    names: object = None  # Ctx -> the path the error must name (default: the first file written)
    outputs: tuple[str, ...] = ("out",)  # under ctx.root: must not exist afterwards
    script: str | None = None  # run as this script in a subprocess instead of in-process
    extra: dict = field(default_factory=dict)


def _train(*extra):
    return lambda c, f: ["--model", "tiny-t5", "--train-file", f, "--output-dir", c.out("run"), "--max-steps", "1",
                         *extra]


def _truncate(name):
    return lambda d: os.truncate(d / name, (d / name).stat().st_size // 2)


def _append(name, text):
    return lambda d: (d / name).write_text((d / name).read_text(encoding="utf-8") + text, encoding="utf-8")


def _add_key(name, **keys):
    """A JSON object file with `keys` added (still valid JSON)."""
    return lambda d: (d / name).write_text(json.dumps({**json.loads((d / name).read_text(encoding="utf-8")), **keys}),
                                           encoding="utf-8")


def _old_style(damage):
    """A checkpoint written before input_spec.json (only qgen_config.yaml), then damaged."""
    return lambda d: ((d / "input_spec.json").unlink(), damage(d))


def bad(id_, command, content, argv, says, **kw):
    """A case whose bad file is `content` (written as bad.<ext> by the id's extension) passed through `argv(ctx, f)`."""
    ext = kw.pop("ext", "tsv")
    return Case(id_, command, (content, ext, argv), tuple(says), **kw)


CASES = [
    # ---- train.py -------------------------------------------------------------------------------------------------
    bad("train-tsv-two-fields", "train", TSV_OK + "q2\tonly two\n", _train(), ["line 2", "3 tab-separated fields"]),
    bad("train-tsv-empty-target", "train", "q1\tanswer: a context: b\t \n", _train(), ["line 1", "field 'target'"]),
    bad("train-tsv-bad-utf8", "train", TSV_OK.encode() + b"q2\t\xff\xfe\tx\n", _train(), ["line 2", "not UTF-8"]),
    bad("train-tsv-empty-file", "train", "", _train(), ["no training examples"]),
    bad("train-json-missing-output", "train", [{"instruction": "x"}], _train(), ["record 1", "field 'output'"],
      ext="json"),
    bad("train-json-malformed", "train", '[{"instruction": "x",\n "output": }]', _train(), ["line 2", "malformed JSON"],
      ext="json"),
    bad("train-jsonl-text-not-string", "train", ({"text": "ok"}, {"text": 5}), _train(), ["line 2", "field 'text'"],
      ext="jsonl"),
    bad("train-jsonl-not-object", "train", ({"text": "ok"}, [1, 2]), _train(), ["line 2", "expected an object"],
      ext="jsonl"),
    bad("train-valid-file-bad-line", "train", "v1\tonly\n",
      lambda c, f: _train("--valid-file", f)(c, c.file("train.tsv", TSV_OK)), ["line 1"]),
    bad("train-config-unknown-key", "train", "learning_rate: 3e-4\n",
      lambda c, f: ["--config", f, "--train-file", c.file("train.tsv", TSV_OK), "--output-dir", c.out("run")],
      ["field 'learning_rate'", "unknown setting"], ext="yaml"),
    bad("train-config-malformed", "train", "lr: [1,\n", lambda c, f: ["--config", f], ["malformed YAML"], ext="yaml"),
    bad("train-config-bad-type", "train", "max_steps: many\n", lambda c, f: ["--config", f],
      ["field 'max_steps'", "expected int"], ext="yaml"),
    bad("train-task-unguessable", "train", "q1\tjust some text\tanswer\n", _train(), ["field 'task'", "cannot guess"]),
    bad("train-quiz-as-seq2seq-empty-output", "train", [{"instruction": "x", "output": "  "}], _train(),
      ["record 1", "field 'output'"], ext="json"),
    # ---- predict.py -----------------------------------------------------------------------------------------------
    bad("predict-tsv-bad-line", "predict", TSV_OK + "q2\tno target here\n",
      lambda c, f: ["--model", str(c.model), "--input", f, "--output", c.out("p.jsonl")], ["line 2"]),
    bad("predict-text-jsonl-no-source", "predict", ({"text": "plain text"},),
      lambda c, f: ["--model", str(c.model), "--input", f, "--output", c.out("p.jsonl")],
      ["record 1", "field 'source'"], ext="jsonl"),
    bad("predict-input-bad-utf8", "predict", b"q1\t\xc3\x28\tx\n",
      lambda c, f: ["--model", str(c.model), "--input", f, "--output", c.out("p.jsonl")], ["not UTF-8"]),
    Case("predict-input-missing", "predict",
         lambda c: ["--model", str(c.model), "--input", str(c.root / "nope.tsv"), "--output", c.out("p.jsonl")],
         ("not found",), names=lambda c: c.root / "nope.tsv"),
    Case("predict-model-truncated-weights", "predict",
         lambda c: ["--model", c.damaged_model(_truncate("model.safetensors")), "--input", c.file("in.tsv", TSV_OK),
                    "--output", c.out("p.jsonl")], ("truncated",), names=lambda c: c.root / "model" / "model.safetensors"),
    # inference reads the saved input settings (input_spec.json), or qgen_config.yaml for a checkpoint without one
    Case("predict-model-config-unknown-key", "predict",
         lambda c: ["--model", c.damaged_model(_add_key("input_spec.json", bogus=1)), "--input",
                    c.file("in.tsv", TSV_OK), "--output", c.out("p.jsonl")],
         ("field 'bogus'",), names=lambda c: c.root / "model" / "input_spec.json"),
    Case("predict-old-model-config-malformed", "predict",
         lambda c: ["--model", c.damaged_model(_old_style(_append("qgen_config.yaml", "model: [unclosed\n"))),
                    "--input", c.file("in.tsv", TSV_OK), "--output", c.out("p.jsonl")],
         ("malformed YAML",), names=lambda c: c.root / "model" / "qgen_config.yaml"),
    Case("predict-model-missing-dir", "predict",
         lambda c: ["--model", str(c.root / "no-model"), "--input", c.file("in.tsv", TSV_OK), "--output",
                    c.out("p.jsonl")], ("not found",), names=lambda c: c.root / "no-model"),
    # ---- generate.py ----------------------------------------------------------------------------------------------
    Case("generate-model-truncated-weights", "generate",
         lambda c: ["--model", c.damaged_model(_truncate("model.safetensors")), "--context", "東京は首都", "--answer",
                    "東京"], ("truncated",), names=lambda c: c.root / "model" / "model.safetensors", outputs=()),
    Case("generate-model-config-json-broken", "generate",
         lambda c: ["--model", c.damaged_model(lambda d: (d / "config.json").write_text("{")), "--context", "東京",
                    "--answer", "東京"], (), names=lambda c: c.root / "model", outputs=()),
    Case("generate-model-not-a-model-dir", "generate",
         lambda c: ["--model", c.damaged_model(lambda d: (d / "config.json").unlink()), "--context", "東京",
                    "--answer", "東京"], ("not a model directory",), names=lambda c: c.root / "model", outputs=()),
    Case("generate-highlight-answer-not-in-context", "generate",
         lambda c: ["--model", str(c.model), "--highlight", "--context", "山梨県の県庁所在地は甲府市です。", "--answer",
                    "大阪"], ("--answer",), names=lambda c: None, outputs=()),
    Case("generate-empty-context", "generate", lambda c: ["--model", str(c.model), "--context", " ", "--answer", "x"],
         ("--context",), names=lambda c: None, outputs=()),
    # ---- quiz (predict.py --task quiz, qgen quiz) -----------------------------------------------------------------
    bad("quiz-one-choice", "predict", [{**QUIZ_OK, "input": "0: 東京"}],
      lambda c, f: ["--task", "quiz", "--model", str(c.model), "--input", f, "--output-dir", c.out("q")],
      ["record 1", "field 'input'"], ext="json"),
    bad("quiz-output-not-a-label", "predict", [{**QUIZ_OK, "output": "9: 謎"}],
      lambda c, f: ["--task", "quiz", "--model", str(c.model), "--input", f, "--output-dir", c.out("q")],
      ["record 1", "field 'output'"], ext="json"),
    bad("quiz-duplicate-id", "predict", [QUIZ_OK, QUIZ_OK],
      lambda c, f: ["--task", "quiz", "--model", str(c.model), "--input", f, "--output-dir", c.out("q")],
      ["record 2", "field 'id'", "duplicate"], ext="json"),
    bad("quiz-labels-out-of-order", "predict", [{**QUIZ_OK, "input": "1: 大阪\n0: 東京"}],
      lambda c, f: ["--task", "quiz", "--model", str(c.model), "--input", f, "--output-dir", c.out("q")],
      ["record 1", "field 'input'", "in order"], ext="json"),
    bad("quiz-instruction-missing", "quiz", ({"input": "0: a\n1: b", "output": "0: a"},),
      lambda c, f: ["eval", "--model", str(c.model), "--input", f, "--output-dir", c.out("q")],
      ["line 1", "field 'instruction'"], ext="jsonl"),
    bad("quiz-seq2seq-model", "quiz", [QUIZ_OK],
      lambda c, f: ["eval", "--model", str(c.model), "--input", f, "--output-dir", c.out("q")],
      ["causal"], names=lambda c: c.model, ext="json"),
    bad("quiz-tune-gate-not-a-list", "quiz", {"records": []},
      lambda c, f: ["tune-gate", "--without", f, "--with", f, "--output", c.out("gate.json")],
      ["list of records"], ext="json"),
    bad("quiz-tune-gate-missing-key", "quiz", [{k: v for k, v in RESULT_OK.items() if k != "margin"}],
      lambda c, f: ["tune-gate", "--without", f, "--with", f, "--output", c.out("gate.json")],
      ["record 1", "field 'margin'"], ext="json"),
    # ---- qgen eval ------------------------------------------------------------------------------------------------
    bad("eval-malformed-line", "eval", json.dumps(PRED_OK, ensure_ascii=False) + "\n{oops\n",
      lambda c, f: ["--predictions", f, "--report", c.out("r.html"), "--metrics", c.out("m.json")],
      ["line 2", "malformed JSON"], ext="jsonl"),
    bad("eval-missing-prediction", "eval", ({k: v for k, v in PRED_OK.items() if k != "prediction"},),
      lambda c, f: ["--predictions", f, "--report", c.out("r.html"), "--metrics", c.out("m.json")],
      ["line 1", "field 'prediction'"], ext="jsonl"),
    bad("eval-target-number", "eval", ({**PRED_OK, "target": 3},),
      lambda c, f: ["--predictions", f, "--report", c.out("r.html"), "--metrics", c.out("m.json")],
      ["line 1", "field 'target'"], ext="jsonl"),
    bad("eval-target-empty-list", "eval", ({**PRED_OK, "target": []},),
      lambda c, f: ["--predictions", f, "--report", c.out("r.html"), "--metrics", c.out("m.json")],
      ["line 1", "field 'target'"], ext="jsonl"),
    bad("eval-empty-file", "eval", "\n\n",
      lambda c, f: ["--predictions", f, "--report", c.out("r.html"), "--metrics", c.out("m.json")],
      ["no prediction records"], ext="jsonl"),
    Case("eval-directory", "eval", lambda c: ["--predictions", str(c.root), "--report", c.out("r.html")],
         ("directory",), names=lambda c: c.root),
    # ---- qgen index -----------------------------------------------------------------------------------------------
    bad("index-jsonl-without-text", "index", ({"text": "ok"}, {"title": "no text"}),
      lambda c, f: ["build", "--corpus", f, "--output", c.out("idx")], ["line 2", "field 'text'"], ext="jsonl"),
    bad("index-squad-without-paragraphs", "index", {"data": [{"title": "x"}]},
      lambda c, f: ["build", "--corpus", f, "--output", c.out("idx")], ["data[0]", "paragraphs"], ext="json"),
    bad("index-empty-corpus", "index", "\n \n", lambda c, f: ["build", "--corpus", f, "--output", c.out("idx")],
      ["no passages"], ext="txt"),
    bad("index-text-not-string", "index", ({"text": ["a", "b"]},),
      lambda c, f: ["build", "--corpus", f, "--output", c.out("idx")], ["line 1", "field 'text'"], ext="jsonl"),
    Case("index-search-not-an-index", "index",
         lambda c: ["search", "--index", str(c.root / "empty"), "--query", "東京"], ("not a qgen index",),
         names=lambda c: c.root / "empty", outputs=(), extra={"mkdir": "empty"}),
    # ---- data_prep ------------------------------------------------------------------------------------------------
    bad("prepare-jsquad-truncated-json", "prepare-jsquad", json.dumps(SQUAD_OK, ensure_ascii=False)[:-5],
      lambda c, f: ["--input", f, "--task", "aqg", "--output", c.out("x.tsv")], ["line 1", "malformed JSON"],
      ext="json"),
    bad("prepare-jsquad-answer-start-text", "prepare-jsquad",
      {"data": [{"title": "t", "paragraphs": [{"context": "東京", "qas": [
          {"id": "s1", "question": "q", "answers": [{"text": "東京", "answer_start": "zero"}]}]}]}]},
      lambda c, f: ["--input", f, "--task", "aqg", "--output", c.out("x.tsv")], ["no usable questions"], ext="json",
      script="data_prep/prepare_jsquad.py"),
    bad("prepare-jsquad-top-level-list", "prepare-jsquad", [SQUAD_OK],
      lambda c, f: ["--input", f, "--task", "qa", "--output", c.out("x.tsv"), "--holdout", "0.5",
                    "--holdout-output", c.out("dev.tsv")], ["top level is a JSON list"], ext="json"),
    bad("prepare-quiz-malformed-line", "prepare-quiz", '{"q_id": 1, "question": "x"}\n{"q_id": 2,\n',
      lambda c, f: ["--input", f, "--format", "jcommonsenseqa", "--style", "train", "--output", c.out("q.json")],
      ["line 2", "malformed JSON"], ext="jsonl"),
    bad("prepare-quiz-template-unknown-field", "prepare-quiz", "headr: x\n",
      lambda c, f: ["--input", c.file("jc.json", '{"q_id": 1, "question": "q", "choice0": "a", "choice1": "b", '
                    '"choice2": "c", "choice3": "d", "choice4": "e", "label": 1}\n'), "--format", "jcommonsenseqa",
                    "--style", "train", "--template-file", f, "--output", c.out("q.json")],
      ["field 'headr'", "unknown template field"], ext="yaml"),
    bad("prepare-korquad-paraphrases-not-lists", "prepare-korquad", {"질문": "not a list"},
      lambda c, f: ["--input", c.file("ko.json", SQUAD_OK), "--paraphrases", f, "--output", c.out("k.jsonl")],
      ["expected a list of strings"], ext="json"),
    bad("prepare-korquad-not-squad", "prepare-korquad", {"version": "1"},
      lambda c, f: ["--input", f, "--output", c.out("k.jsonl")], ["field 'data'"], ext="json",
      script="data_prep/prepare_korquad.py"),
    # ---- download -------------------------------------------------------------------------------------------------
    Case("download-mirror-missing", "download",
         lambda c: ["jsquad", "--dest", c.out("data"), "--mirror", str(c.root / "no-mirror")], ("not found",),
         names=lambda c: c.root / "no-mirror"),
    Case("download-mirror-file-corrupt", "download",
         lambda c: ["jcommonsenseqa", "--dest", c.out("data"), "--mirror", str(c.root / "mirror")],
         ("not the published file",), names=lambda c: c.root / "mirror" / MIRRORED, extra={"mirror": True}),
    Case("download-dest-is-a-file", "download",
         lambda c: ["jsquad", "--dest", c.file("dest.txt", "x"), "--mirror", str(c.root)], ("not a directory",),
         names=lambda c: c.root / "dest.txt"),
    # ---- qgen merge -----------------------------------------------------------------------------------------------
    Case("merge-not-an-adapter", "merge", lambda c: ["--adapter", str(c.model), "--output", c.out("merged")],
         ("not a LoRA adapter directory",), names=lambda c: c.model),
    Case("merge-adapter-config-broken", "merge",
         lambda c: ["--adapter", c.damaged_model(lambda d: (d / "adapter_config.json").write_text("{not json")),
                    "--output", c.out("merged")], ("adapter_config.json",),
         names=lambda c: c.root / "model" / "adapter_config.json"),
]


def _run(command: str, argv: list[str]) -> int:
    """The command's own entry point, in-process; SystemExit (argparse) counts as its exit code."""
    from qgen import cli
    from qgen.cli import download, predict, prepare_jsquad, prepare_korquad, prepare_quiz
    from qgen.cli import generate as generate_cli
    from qgen.cli import train as train_cli

    mains = {"train": train_cli.main, "predict": predict.main, "generate": generate_cli.main,
             "prepare-jsquad": prepare_jsquad.main, "prepare-quiz": prepare_quiz.main, "prepare-korquad": prepare_korquad.main,
             "download": download.main}
    try:
        if command in mains:
            return mains[command](argv)
        return cli.main([command, *argv])  # eval, index, quiz, merge: as `qgen <command>`
    except SystemExit as e:
        return e.code if isinstance(e.code, int) else 1


@pytest.fixture(scope="module")
def good_model(reference):
    return reference / "best"


def test_corpus_is_large_enough():
    assert len(CASES) >= 40 and len({c.id for c in CASES}) == len(CASES)
    commands = {c.command for c in CASES} | {"quiz-via-predict" for c in CASES if "--task" in str(c.argv)}
    assert {"train", "predict", "generate", "quiz", "eval", "index", "prepare-jsquad", "prepare-quiz",
            "prepare-korquad", "download", "merge"} <= commands


@pytest.mark.parametrize("case", CASES, ids=[c.id for c in CASES])
def test_bad_input(case: Case, good_model, tmp_path, capfd):
    check_bad_input(case, good_model, tmp_path, capfd)


def check_bad_input(case: Case, good_model: Path, tmp_path: Path, capfd) -> str:
    """Run `case`; assert exit 2, exactly one `error:` line naming what it must, no traceback, no output left.
    Returns the error line."""
    ctx = Ctx(tmp_path, good_model)
    if "mkdir" in case.extra:
        (tmp_path / case.extra["mkdir"]).mkdir()
    if case.extra.get("mirror"):  # a mirror whose file is not the published one
        ctx.file(f"mirror/{MIRRORED}", "{}")
    if isinstance(case.argv, tuple):
        content, ext, build = case.argv
        bad = ctx.file(f"bad.{ext}", content)
        argv, named = build(ctx, bad), case.names(ctx) if case.names else bad
    else:
        argv, named = case.argv(ctx), case.names(ctx) if case.names else None
    capfd.readouterr()
    if case.script:
        proc = subprocess.run([sys.executable, str(REPO / case.script), *argv], cwd=tmp_path, env=train_env(),
                              capture_output=True, text=True, timeout=600)
        code, err = proc.returncode, proc.stderr
    else:
        code = _run(case.command, argv)
        err = capfd.readouterr().err
    errors = [line for line in err.splitlines() if line.startswith("error:")]
    assert code == 2, err[-3000:]
    assert len(errors) == 1, err[-3000:]
    assert "Traceback" not in err, err[-3000:]
    line = errors[0]
    if named is not None:
        assert str(named) in line, line
    for fragment in case.says:
        assert fragment in line, line
    for name in case.outputs:
        files = [p for p in (tmp_path / name).rglob("*") if not p.is_dir()]
        assert files == [], f"partial output left: {files}"
    return line
