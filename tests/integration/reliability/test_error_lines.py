"""Issue 29's tracebacks and unclear messages, as one more table of test_bad_inputs.py's kind: each case exits 2 with
exactly one `error:` line naming the file (and the field / record) and no traceback. Classes: non-finite and
unbounded settings (from flags and from a --config file), decoding settings, output paths checked before any work
(a path inside a file, a directory), checkpoint files damaged past today's checks, inputs that are not regular files
or nest too deeply, a damaged BM25 index, unknown commands and abbreviated flags. Below the table: Ctrl-C, a closed
stdout, SIGHUP in training and NonFiniteWeightsError, which are not exit-2 cases.
"""

from __future__ import annotations

import json
import os
import pickle
import signal
import subprocess
import sys

import pytest
import torch
from helpers.disks import fill, small_tmpfs

from .reliability_helpers import REPO, assert_loads, run_train, saved_step, train_env
from .test_bad_inputs import PRED_OK, QUIZ_OK, SQUAD_OK, TSV_OK, Case, _run, bad, check_bad_input

DEEP = "[" * 100_000 + "]" * 100_000  # 200 KB: json.loads recurses once per level (RecursionError)


def _train(*flags):
    return lambda c: ["--model", "tiny-t5", "--train-file", c.file("train.tsv", TSV_OK), "--output-dir",
                      c.out("run"), "--max-steps", "1", *flags]


def _setting(id_, flags, field):
    return Case(f"train-{id_}", "train", _train(*flags), (f"field '{field}'",))


def _config(id_, yaml_text, says):
    """A --config file with `yaml_text`: the error names the file."""
    return bad(f"train-config-{id_}", "train", yaml_text,
               lambda c, f: ["--config", f, "--train-file", c.file("train.tsv", TSV_OK), "--output-dir", c.out("run")],
               says, ext="yaml")


def _gen(*flags, model=None):
    """generate.py with a model that does not exist: a decoding error must come first, before any loading."""
    return lambda c: ["--model", str(model(c) if model else c.root / "no-model"), "--context", "東京は日本の首都である。",
                      "--answer", "東京", *flags]


def _predict(*flags, model=None):
    return lambda c: ["--model", str(model(c) if model else c.root / "no-model"), "--input", c.file("in.tsv", TSV_OK),
                      "--output", c.out("p.jsonl"), *flags]


def _blocked(c, name: str) -> str:
    """A path inside a regular file: no directory can ever be made there."""
    return str(c.root / c.file("blocker.txt", "a file, not a folder") / name)


def _json_edit(name, **changes):
    def edit(d):
        data = json.loads((d / name).read_text(encoding="utf-8"))
        for key, value in changes.items():
            data[key] = value(data[key]) if callable(value) else value
        (d / name).write_text(json.dumps(data), encoding="utf-8")
    return edit


def _header_dtype(d):
    """model.safetensors with its first F32 tensor relabelled F16 (same header length: the file size still fits)."""
    blob = (d / "model.safetensors").read_bytes()
    n = int.from_bytes(blob[:8], "little")
    header = blob[8:8 + n].replace(b'"F32"', b'"F16"', 1)
    (d / "model.safetensors").write_bytes(blob[:8] + header + blob[8 + n:])


class _Payload:
    """Unpickling this would create the marker file: proof that nothing in a refused pickle runs."""

    def __init__(self, marker):
        self.marker = str(marker)

    def __reduce__(self):
        return (os.mkdir, (self.marker,))


def _pickled_weights(d):
    (d / "model.safetensors").unlink()
    (d / "pytorch_model.bin").write_bytes(pickle.dumps({"shared.weight": _Payload(d / "ran")}))


def _damaged(damage, command="predict"):
    build = _predict if command == "predict" else _gen
    return build(model=lambda c: c.damaged_model(damage))


def _fifo(c):
    path = c.root / "in.fifo"
    os.mkfifo(path)
    return str(path)


def _damaged_index(c, name):
    from qgen.quiz.retrieval import build_index

    index = c.root / "index"
    build_index([c.file("corpus.jsonl", ({"text": "東京は日本の首都である。"}, {"text": "大阪は商業の街。"}))], index)
    os.truncate(index / name, (index / name).stat().st_size // 2)
    return str(index)


CASES = [
    # ---- non-finite and unbounded settings -------------------------------------------------------------------------
    _setting("lr-nan", ["--lr", "nan"], "lr"),
    _setting("lr-inf", ["--lr", "inf"], "lr"),
    _setting("epochs-nan", ["--epochs", "nan"], "epochs"),
    _setting("max-grad-norm-nan", ["--max-grad-norm", "nan"], "max_grad_norm"),
    _setting("max-minutes-nan", ["--max-minutes", "nan"], "max_minutes"),
    _setting("adam-eps-negative", ["--adam-eps", "-1"], "adam_eps"),
    _setting("adam-beta-one", ["--adam-beta2", "1"], "adam_beta2"),
    _setting("seed-huge", ["--seed", str(2**64)], "seed"),
    _setting("max-source-len-huge", ["--max-source-len", str(10**12)], "max_source_len"),
    _setting("threads-huge", ["--threads", "100000"], "threads"),
    _setting("output-dir-empty", ["--output-dir", ""], "output_dir"),
    _config("range-names-file", "lr: -1\n", ["field 'lr'", "must be > 0"]),
    _config("nan-names-file", "max_grad_norm: .nan\n", ["field 'max_grad_norm'", "finite"]),
    _config("yaml-error-line", "lr: 3e-4\nepochs: [1,\n", ["line 3", "malformed YAML"]),
    _config("yaml-nested-too-deeply", "lr: " + "[" * 5000 + "]" * 5000 + "\n", ["nested too deeply"]),
    # ---- decoding settings: refused before the (missing) model is looked at ------------------------------------
    Case("generate-temperature-0-sampling", "generate", _gen("--do-sample", "--temperature", "0"), ("--temperature",),
         outputs=()),
    Case("generate-max-new-tokens-huge", "generate", _gen("--max-new-tokens", str(10**11)), ("--max-new-tokens",),
         outputs=()),
    Case("generate-top-p-above-1", "generate", _gen("--do-sample", "--top-p", "1.5"), ("--top-p",), outputs=()),
    Case("predict-length-penalty-nan", "predict", _predict("--length-penalty", "nan"), ("--length-penalty", "finite")),
    Case("predict-seed-huge", "predict", _predict("--do-sample", "--seed", str(2**40)), ("--seed",)),
    Case("build-model-seed-huge", "build-model", lambda c: ["--texts", "t.tsv", "--output", c.out("m"), "--seed",
                                                            str(2**70)], ("--seed",)),
    Case("quiz-tune-gate-budget-nan", "quiz", lambda c: ["tune-gate", "--without", "a", "--with", "b", "--budget",
                                                         "nan"], ("--budget", "finite")),
    # ---- output paths: checked before any work (the model here does not even exist) -----------------------------
    Case("predict-output-inside-a-file", "predict",
         lambda c: ["--model", str(c.root / "no-model"), "--input", c.file("in.tsv", TSV_OK), "--output",
                    _blocked(c, "p.jsonl")], ("--output", "not a directory"), names=lambda c: c.root / "blocker.txt"),
    Case("predict-output-is-a-directory", "predict",
         lambda c: ["--model", str(c.root / "no-model"), "--input", c.file("in.tsv", TSV_OK), "--output", str(c.root)],
         ("--output", "is a directory"), names=lambda c: c.root),
    Case("predict-eval-metrics-beside-is-a-directory", "predict",
         lambda c: (os.makedirs(c.root / "o" / "p.metrics.json"),
                    ["--model", str(c.root / "no-model"), "--input", c.file("in.tsv", TSV_OK), "--output",
                     str(c.root / "o" / "p.jsonl"), "--eval"])[1],
         ("--metrics", "is a directory"), names=lambda c: c.root / "o" / "p.metrics.json"),
    Case("quiz-output-dir-inside-a-file", "predict",
         lambda c: ["--task", "quiz", "--model", str(c.root / "no-model"), "--input", c.file("q.json", [QUIZ_OK]),
                    "--output-dir", _blocked(c, "q")], ("not a directory",), names=lambda c: c.root / "blocker.txt"),
    bad("eval-report-inside-a-file", "eval", "{}\n",
        lambda c, f: ["--predictions", f, "--report", _blocked(c, "r.html")], ["--report", "not a directory"],
        names=lambda c: c.root / "blocker.txt", ext="jsonl"),
    Case("eval-default-metrics-is-a-directory", "eval",
         lambda c: (os.makedirs(c.root / "preds.metrics.json"), ["--predictions", c.file("preds.jsonl", "{oops\n")])[1],
         ("--metrics", "is a directory"), names=lambda c: c.root / "preds.metrics.json"),
    Case("index-build-output-inside-a-file", "index",
         lambda c: ["build", "--corpus", str(c.root / "none.txt"), "--output", _blocked(c, "idx")],
         ("--output", "not a directory"), names=lambda c: c.root / "blocker.txt"),
    Case("prepare-jsquad-output-inside-a-file", "prepare-jsquad",
         lambda c: ["--input", c.file("s.json", SQUAD_OK), "--task", "aqg", "--output", _blocked(c, "x.tsv")],
         ("--output", "not a directory"), names=lambda c: c.root / "blocker.txt"),
    Case("prepare-quiz-output-is-a-directory", "prepare-quiz",
         lambda c: ["--input", str(c.root / "none.json"), "--format", "jcommonsenseqa", "--style", "train", "--output",
                    str(c.root)], ("--output", "is a directory"), names=lambda c: c.root),
    Case("prepare-korquad-output-inside-a-file", "prepare-korquad",
         lambda c: ["--input", c.file("ko.json", SQUAD_OK), "--output", _blocked(c, "k.jsonl")],
         ("--output", "not a directory"), names=lambda c: c.root / "blocker.txt"),
    Case("prepare-output-inside-a-file", "prepare",
         lambda c: ["--input", c.file("s.json", SQUAD_OK), "--template", "jsquad-aqg", "--output",
                    _blocked(c, "x.tsv")], ("--output", "not a directory"), names=lambda c: c.root / "blocker.txt"),
    Case("merge-output-inside-a-file", "merge", lambda c: ["--adapter", str(c.model), "--output", _blocked(c, "m")],
         ("--output", "not a directory"), names=lambda c: c.root / "blocker.txt"),
    Case("export-output-inside-a-file", "export", lambda c: ["--checkpoint", str(c.model), "--output", _blocked(c, "e")],
         ("--output", "not a directory"), names=lambda c: c.root / "blocker.txt"),
    Case("build-model-output-inside-a-file", "build-model",
         lambda c: ["--texts", c.file("t.tsv", TSV_OK), "--output", _blocked(c, "m")], ("--output", "not a directory"),
         names=lambda c: c.root / "blocker.txt"),
    Case("quiz-tune-gate-output-inside-a-file", "quiz",
         lambda c: ["tune-gate", "--without", "a.json", "--with", "b.json", "--output", _blocked(c, "g.json")],
         ("--output", "not a directory"), names=lambda c: c.root / "blocker.txt"),
    Case("quiz-sweep-output-dir-is-a-file", "quiz",
         lambda c: ["sweep", "--config", "s.yaml", "--input", "q.json", "--output-dir", c.file("blocker.txt", "x")],
         ("--output-dir", "not a directory"), names=lambda c: c.root / "blocker.txt"),
    Case("summarize-output-inside-a-file", "predict",
         lambda c: ["--task", "summarize", "--model", str(c.model), "--input", c.file("in.jsonl", ({"text": "本文"},)),
                    "--output", _blocked(c, "s.jsonl")], ("--output", "not a directory"),
         names=lambda c: c.root / "blocker.txt"),
    # ---- checkpoint files damaged past today's checks -----------------------------------------------------------
    # refused before anything is allocated: the config describes more parameters than the weights hold
    Case("predict-config-vocab-size-edited", "predict", _damaged(_json_edit("config.json", vocab_size=lambda v: v + 7)),
         ("weights do not fit the model its config.json describes",), names=lambda c: c.root / "model"),
    Case("generate-safetensors-header-dtype-changed", "generate", _damaged(_header_dtype, "generate"),
         ("corrupt safetensors header", "F16"), names=lambda c: c.root / "model" / "model.safetensors", outputs=()),
    Case("predict-tokenizer-json-malformed", "predict",
         _damaged(lambda d: (d / "tokenizer.json").write_text('{"version": "1.0", "model": {"type": "Nope"}}')),
         ("tokenizer",), names=lambda c: c.root / "model" / "tokenizer.json"),
    Case("predict-input-spec-length-negative", "predict", _damaged(_json_edit("input_spec.json", max_source_len=-5)),
         ("field 'max_source_len'",), names=lambda c: c.root / "model" / "input_spec.json"),
    Case("generate-input-spec-lang-unknown", "generate", _damaged(_json_edit("input_spec.json", lang="xx"), "generate"),
         ("field 'lang'",), names=lambda c: c.root / "model" / "input_spec.json", outputs=()),
    Case("predict-pickle-in-place-of-safetensors", "predict", _damaged(_pickled_weights),
         ("not plain weights", "nothing in it was run"), names=lambda c: c.root / "model" / "pytorch_model.bin"),
    # ---- inputs -------------------------------------------------------------------------------------------------
    bad("predict-json-nested-too-deeply", "predict", DEEP,
        lambda c, f: ["--model", str(c.model), "--input", f, "--output", c.out("p.jsonl")], ["nested too deeply"],
        ext="json"),
    bad("eval-jsonl-nested-too-deeply", "eval", DEEP + "\n",
        lambda c, f: ["--predictions", f, "--report", c.out("r.html")], ["line 1", "nested too deeply"], ext="jsonl"),
    Case("predict-input-fifo", "predict",
         lambda c: ["--model", str(c.model), "--input", _fifo(c), "--output", c.out("p.jsonl")],
         ("not a regular file",), names=lambda c: c.root / "in.fifo"),
    Case("train-file-dev-zero", "train",
         lambda c: ["--model", "tiny-t5", "--train-file", "/dev/zero", "--output-dir", c.out("run")],
         ("not a regular file", "field 'train_file'"), names=lambda c: "/dev/zero"),
    Case("index-search-npy-truncated", "index",
         lambda c: ["search", "--index", _damaged_index(c, "data.csc.index.npy"), "--query", "東京"],
         ("damaged index", "rebuild"), names=lambda c: c.root / "index" / "data.csc.index.npy", outputs=()),
    Case("index-search-corpus-truncated", "index",
         lambda c: ["search", "--index", _damaged_index(c, "corpus.jsonl"), "--query", "東京"],
         ("damaged index", "rebuild"), names=lambda c: c.root / "index" / "corpus.jsonl", outputs=()),
    # ---- commands and flags -------------------------------------------------------------------------------------
    Case("qgen-summarize-unknown-command", "summarize", lambda c: [], ("unknown command", "predict --task summarize"),
         outputs=()),
    Case("prepare-jsquad-abbreviated-flag", "prepare-jsquad",
         lambda c: ["--inp", "x.json", "--task", "aqg", "--output", c.out("x.tsv")], ("did you mean --input",)),
    Case("prepare-jsquad-script-abbreviated-flag", "prepare-jsquad",
         lambda c: ["--input", "x.json", "--task", "aqg", "--out", c.out("x.tsv")], ("did you mean --output",),
         script="data_prep/prepare_jsquad.py"),
    Case("prepare-abbreviated-flag", "prepare", lambda c: ["--inp", "x.json", "--template", "t", "--output", "o"],
         ("did you mean --input",)),
    Case("build-model-abbreviated-flag", "build-model", lambda c: ["--text", "t.tsv", "--output", c.out("m")],
         ("did you mean --texts",)),
    Case("export-abbreviated-flag", "export", lambda c: ["--check", str(c.model), "--output", c.out("e")],
         ("did you mean --checkpoint",)),
]
if not torch.cuda.is_available():  # --device cuda on a CPU-only torch (or a machine with no GPU)
    CASES.append(Case("predict-device-cuda-without-gpu", "predict", _predict("--device", "cuda", model=lambda c: c.model),
                      ("--device", "no CUDA GPU")))


@pytest.fixture(scope="module")
def good_model(reference):
    return reference / "best"


@pytest.mark.parametrize("case", CASES, ids=[c.id for c in CASES])
def test_error_line(case: Case, good_model, tmp_path, capfd):
    check_bad_input(case, good_model, tmp_path, capfd)
    assert not (tmp_path / "model" / "ran").exists()  # a refused pickle ran nothing


@pytest.mark.skipif(os.geteuid() == 0, reason="root writes into any directory: no unwritable one to test with")
def test_output_in_unwritable_directory(good_model, tmp_path, capfd):
    locked = tmp_path / "locked"
    locked.mkdir(mode=0o500)
    case = Case("predict-unwritable", "predict",
                lambda c: ["--model", str(c.root / "no-model"), "--input", c.file("in.tsv", TSV_OK), "--output",
                           str(locked / "p.jsonl")], ("not writable",), names=lambda c: locked)
    check_bad_input(case, good_model, tmp_path, capfd)


def test_output_on_a_full_disk_is_refused_before_any_work(good_model, tmp_path, capfd):
    with small_tmpfs(tmp_path, "64k") as fs:
        fill(fs)
        case = Case("predict-disk-full", "predict",
                    lambda c: ["--model", str(c.root / "no-model"), "--input", c.file("in.tsv", TSV_OK), "--output",
                               str(fs / "p.jsonl")], ("--output", "no space left on device"), names=lambda c: fs)
        check_bad_input(case, good_model, tmp_path, capfd)


def test_disk_filling_during_a_write_names_the_output(tmp_path, capfd):
    """Room for the check, not for the report: `no space left on device writing PATH` (exit 1), not the temp file's
    name, and nothing left behind."""
    preds = tmp_path / "p.jsonl"
    preds.write_text(json.dumps(PRED_OK, ensure_ascii=False) + "\n", encoding="utf-8")
    with small_tmpfs(tmp_path, "64k") as fs:
        (fs / "filler").write_bytes(b"\0" * (60 * 1024))  # one 4 KiB page left: less than the HTML report
        code = _run("eval", ["--predictions", str(preds), "--report", str(fs / "r.html"), "--metrics",
                             str(fs / "m.json"), "--no-hallucination"])
        err = capfd.readouterr().err
        assert code == 1 and err.splitlines() == [f"error: no space left on device writing {fs / 'r.html'}"], err
        assert sorted(p.name for p in fs.iterdir()) == ["filler"]


def test_ctrl_c_in_predict_is_one_line_and_130(good_model, tmp_path, capfd, monkeypatch):
    from qgen.cli import predict

    def interrupted(*a, **k):
        raise KeyboardInterrupt

    monkeypatch.setattr(predict, "load_inference_model", interrupted)  # Ctrl-C while the model loads
    (tmp_path / "in.tsv").write_text(TSV_OK, encoding="utf-8")
    try:
        code = _run("predict", ["--model", str(good_model), "--input", str(tmp_path / "in.tsv"), "--output",
                                str(tmp_path / "p.jsonl")])
    except KeyboardInterrupt:  # as a traceback it would end the test session
        pytest.fail("KeyboardInterrupt escaped predict's main")
    err = capfd.readouterr().err
    # the last line; before it only predict's "predicting N examples … loading it" progress line (no traceback)
    assert code == 130 and err.strip().splitlines()[-1] == "interrupted" and "Traceback" not in err, err
    assert not (tmp_path / "p.jsonl").exists()


def test_non_finite_weights_error_is_one_line(tmp_path, capfd, monkeypatch):
    from qgen.cli import train as train_cli
    from qgen.training import loop
    from qgen.training.checkpoint import NonFiniteWeightsError

    def diverged(cfg):
        raise NonFiniteWeightsError(f"refusing to save non-finite weights to {tmp_path / 'run' / 'best'}")

    monkeypatch.setattr(loop, "train", diverged)
    (tmp_path / "t.tsv").write_text(TSV_OK, encoding="utf-8")
    code = train_cli.main(["--train-file", str(tmp_path / "t.tsv"), "--output-dir", str(tmp_path / "run")])
    err = capfd.readouterr().err
    assert code == 1 and err.splitlines() == [f"error: refusing to save non-finite weights to {tmp_path}/run/best"]


def test_closed_stdout_ends_quietly(tmp_path):
    """`qgen --help | head` and the like: the reader went away; no BrokenPipeError traceback, in any command."""
    read_end, write_end = os.pipe()
    os.close(read_end)  # every write to stdout now fails with EPIPE
    try:
        for argv in (["-m", "qgen.cli", "--help"], ["-m", "qgen.cli", "eval", "--help"], ["train.py", "--help"]):
            proc = subprocess.run([sys.executable, *argv], cwd=REPO, env=train_env(), stdout=write_end,
                                  stderr=subprocess.PIPE, text=True, timeout=600)
            assert proc.stderr == "" and proc.returncode in (0, 1), (argv, proc.stderr[-2000:])
    finally:
        os.close(write_end)


def test_sighup_saves_last_like_sigterm(make_conf, reference, server, tmp_path):
    out = tmp_path / "run"
    result = run_train(make_conf(out), pause=["step5:micro1"], signals=[signal.SIGHUP], server=server)
    assert result.returncode == 128 + signal.SIGHUP, result.stderr[-3000:]
    assert "SIGHUP received: stopped after step 5" in result.stderr and "Traceback" not in result.stderr
    assert saved_step(out / "last") == 5
    assert_loads(out / "last", with_state=True)
