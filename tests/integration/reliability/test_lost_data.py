"""Nothing a user already has is lost (issue 29, item 2).

- An output path that is an input — spelt the same, through `..`, a symlink or a hard link (qgen.core.outputs) — is
  one `error:` line before any work, and the input is unchanged: predict.py (--output / --metrics vs --input and
  each other), `qgen eval` (--report / --metrics vs --predictions and each other), `qgen export` and `qgen merge`
  (--output vs the checkpoint, also one inside the other), the quiz, `qgen index build`, the data preparation
  commands. "Before any work" is shown
  by a --model that does not exist: the path error comes first.
- train.py never replaces a finished run silently: a fresh run into its directory, or `--resume` with last/ gone and
  best/ present, is refused; `--overwrite` starts over. `--resume` with last/'s tokenizer files gone is refused.
- `qgen eval` writes its report and metrics as one set: a failure in between never leaves a new report beside old
  metrics.
- Every file of a checkpoint or an export has the umask's mode (model.safetensors was 0600 beside 0644 files).
"""

from __future__ import annotations

import os
import shutil
import stat
from pathlib import Path

import pytest

from .reliability_helpers import run_train

PRED = '{"id": "p1", "source": "answer: 東京 context: 東京は首都", "prediction": "首都は?", "target": "日本の首都は?"}\n'
TSV = "q1\tanswer: 甲府市 context: 山梨県の県庁所在地は甲府市です。\t山梨県の県庁所在地は?\n"
MODE = 0o666 & ~(lambda m: (os.umask(m), m)[1])(os.umask(0))  # what a plain open() gives a new file here


def one_error(capfd, rc: int) -> str:
    err = capfd.readouterr().err
    errors = [line for line in err.splitlines() if line.startswith("error:")]
    assert rc == 2 and len(errors) == 1 and "Traceback" not in err, err[-2000:]
    return errors[0]


def predict(argv):
    from qgen.cli.predict import main

    return main(argv)


def qgen(argv):
    from qgen.cli import main

    return main(argv)


def export(argv):
    from qgen.cli.export import main

    return main(argv)


def spellings(tmp_path: Path, name: str, content: str) -> dict[str, tuple[Path, str]]:
    """One input file and four other names for it: itself, `sub/../name`, a symlink, a hard link."""
    src = tmp_path / name
    src.write_text(content, encoding="utf-8")
    (tmp_path / "sub").mkdir(exist_ok=True)
    (tmp_path / f"link-{name}").symlink_to(src)
    os.link(src, tmp_path / f"hard-{name}")
    return {"same": (src, str(src)), "dotdot": (src, str(tmp_path / "sub" / ".." / name)),
            "symlink": (src, str(tmp_path / f"link-{name}")), "hardlink": (src, str(tmp_path / f"hard-{name}"))}


@pytest.mark.parametrize("how", ["same", "dotdot", "symlink", "hardlink"])
def test_predict_output_is_the_input(tmp_path, capfd, how):
    src, other = spellings(tmp_path, "dev.tsv", TSV)[how]
    line = one_error(capfd, predict(["--model", str(tmp_path / "no-model"), "--input", str(src), "--output", other]))
    assert "--output" in line and "--input" in line and "no-model" not in line  # found before the model is looked at
    assert src.read_text(encoding="utf-8") == TSV


def test_predict_metrics_is_the_output_or_the_input(tmp_path, capfd):
    src = tmp_path / "dev.tsv"
    src.write_text(TSV, encoding="utf-8")
    out = tmp_path / "p.jsonl"
    out.write_text(PRED, encoding="utf-8")
    for metrics, flag in ((out, "--output"), (src, "--input")):
        rc = predict(["--model", str(tmp_path / "no-model"), "--input", str(src), "--output", str(out), "--eval",
                      "--metrics", str(metrics)])
        assert flag in one_error(capfd, rc)
    assert src.read_text(encoding="utf-8") == TSV and out.read_text(encoding="utf-8") == PRED


@pytest.mark.parametrize("how", ["same", "symlink", "hardlink"])
def test_eval_outputs_are_the_predictions(tmp_path, capfd, how):
    src, other = spellings(tmp_path, "p.jsonl", PRED)[how]
    for argv in (["--metrics", other], ["--report", other]):
        line = one_error(capfd, qgen(["eval", "--predictions", str(src), *argv, "--no-hallucination"]))
        assert "--predictions" in line
    line = one_error(capfd, qgen(["eval", "--predictions", str(src), "--report", str(tmp_path / "r.md"),
                                  "--metrics", str(tmp_path / "r.md"), "--no-hallucination"]))
    assert "--report" in line and "--metrics" in line
    assert src.read_text(encoding="utf-8") == PRED and not (tmp_path / "r.md").exists()


def test_eval_never_leaves_a_new_report_beside_old_metrics(tmp_path, monkeypatch, capfd):
    import qgen.cli.eval as ev

    pred = tmp_path / "p.jsonl"
    pred.write_text(PRED, encoding="utf-8")
    report, metrics = tmp_path / "p.report.md", tmp_path / "p.metrics.json"
    report.write_text("old report\n", encoding="utf-8")
    metrics.write_text('{"old": true}\n', encoding="utf-8")

    def disk_full(*a, **k):
        raise OSError(28, "No space left on device", str(metrics))

    monkeypatch.setattr(ev, "write_json", disk_full)  # the second of the two writes fails
    with pytest.raises(OSError):
        ev.main(["--predictions", str(pred), "--report", str(report), "--no-hallucination"])
    assert report.read_text(encoding="utf-8") == "old report\n"  # the old set, whole
    assert metrics.read_text(encoding="utf-8") == '{"old": true}\n'
    assert sorted(p.name for p in tmp_path.iterdir()) == ["p.jsonl", "p.metrics.json", "p.report.md"]  # no temp left
    monkeypatch.undo()
    assert ev.main(["--predictions", str(pred), "--report", str(report), "--no-hallucination"]) == 0
    assert "old" not in report.read_text(encoding="utf-8") and '"old"' not in metrics.read_text(encoding="utf-8")
    assert stat.S_IMODE(report.stat().st_mode) == MODE == stat.S_IMODE(metrics.stat().st_mode)


def test_export_output_is_or_holds_or_is_inside_the_checkpoint(reference, tmp_path, capfd):
    ckpt = tmp_path / "run" / "best"
    shutil.copytree(reference / "best", ckpt)
    before = sorted((p.name, p.stat().st_size) for p in ckpt.iterdir())
    (tmp_path / "link").symlink_to(ckpt)
    for output in (ckpt, tmp_path / "link", ckpt / "export", tmp_path / "run"):
        line = one_error(capfd, export(["--checkpoint", str(ckpt), "--output", str(output)]))
        assert "--output" in line and "--checkpoint" in line
    assert sorted((p.name, p.stat().st_size) for p in ckpt.iterdir()) == before
    # a sound export: every file has the umask's mode (safetensors' own writer gave model.safetensors 0600)
    assert export(["--checkpoint", str(ckpt), "--output", str(tmp_path / "exported")]) == 0
    modes = {p.name: oct(stat.S_IMODE(p.stat().st_mode)) for p in (tmp_path / "exported").iterdir()}
    assert set(modes.values()) == {oct(MODE)}, modes


def test_checkpoint_files_have_the_umask_mode(reference):
    for d in (reference / "best", reference / "last"):
        modes = {p.name: oct(stat.S_IMODE(p.stat().st_mode)) for p in d.iterdir()}
        assert set(modes.values()) == {oct(MODE)}, (d, modes)


def test_prepare_output_is_the_input(tmp_path, capfd):
    from qgen.cli import prepare_quiz

    src, other = spellings(tmp_path, "q.json", "[]")["hardlink"]
    line = one_error(capfd, prepare_quiz.main(["--input", str(src), "--format", "jcommonsenseqa", "--style",
                                               "train", "--output", other]))
    assert "--input" in line and src.read_text(encoding="utf-8") == "[]"


def test_quiz_and_index_outputs_are_inputs(tmp_path, capfd):
    quiz = tmp_path / "out" / "result.json"  # a quiz file kept where the run's result.json goes
    quiz.parent.mkdir()
    quiz.write_text("[]", encoding="utf-8")
    line = one_error(capfd, predict(["--task", "quiz", "--model", str(tmp_path / "no-model"), "--input", str(quiz),
                                     "--output-dir", str(tmp_path / "out")]))
    assert "--output-dir" in line and "--input" in line and "no-model" not in line
    corpus = tmp_path / "idx" / "corpus.txt"  # the index directory is replaced as a whole
    corpus.parent.mkdir()
    corpus.write_text("東京は日本の首都です。\n", encoding="utf-8")
    line = one_error(capfd, qgen(["index", "build", "--corpus", str(corpus), "--output", str(tmp_path / "idx")]))
    assert "--corpus" in line and corpus.read_text(encoding="utf-8") == "東京は日本の首都です。\n"
    assert quiz.read_text(encoding="utf-8") == "[]"


def test_train_file_where_the_run_writes(make_conf, server, tmp_path, rel_files):
    out = tmp_path / "run"
    (out / "best").mkdir(parents=True)
    kept = out / "best" / "train.tsv"  # --overwrite removes best/, the run writes a new one
    shutil.copy2(rel_files[0], kept)
    r = run_train(make_conf(out, train_file=str(kept), max_steps=1, overwrite=True), server=server)
    assert r.returncode == 2 and len(r.errors()) == 1 and "--train-file" in r.errors()[0], r.stderr[-2000:]
    assert kept.read_bytes() == rel_files[0].read_bytes()


def _finished_run(reference: Path, tmp_path: Path) -> Path:
    out = tmp_path / "run"
    shutil.copytree(reference, out, ignore=shutil.ignore_patterns(".qgen.lock"))
    return out


def _snapshot(directory: Path) -> dict:
    return {str(p.relative_to(directory)): p.read_bytes() for p in sorted(directory.rglob("*")) if p.is_file()}


@pytest.mark.slow
def test_train_never_replaces_a_finished_run(make_conf, reference, server, tmp_path):
    out = _finished_run(reference, tmp_path)
    best, last = _snapshot(out / "best"), _snapshot(out / "last")

    fresh = run_train(make_conf(out, max_steps=1), server=server)  # no --resume
    assert fresh.returncode == 2 and len(fresh.errors()) == 1, fresh.stderr[-2000:]
    assert "--resume" in fresh.errors()[0] and "--overwrite" in fresh.errors()[0] and str(out) in fresh.errors()[0]
    assert _snapshot(out / "best") == best and _snapshot(out / "last") == last

    shutil.rmtree(out / "last")  # --resume with last/ gone: it would start over and replace best/
    again = run_train(make_conf(out, resume=True), server=server)
    assert again.returncode == 2 and len(again.errors()) == 1, again.stderr[-2000:]
    assert "last" in again.errors()[0] and "best/" in again.errors()[0]
    assert _snapshot(out / "best") == best

    over = run_train(make_conf(out, max_steps=2, overwrite=True), server=server)  # asked for: starts over
    assert over.returncode == 0, over.stderr[-2000:]
    assert _snapshot(out / "best") != best and (out / "last").is_dir()
    assert not list(out.glob(".*.tmp")) and not (out / ".qgen-no-last-yet").exists()


@pytest.mark.parametrize("missing", ["tokenizer.json", "tokenizer_config.json"])
def test_resume_refuses_a_last_without_its_tokenizer(make_conf, reference, server, tmp_path, missing):
    out = _finished_run(reference, tmp_path)
    (out / "last" / missing).unlink()
    r = run_train(make_conf(out, resume=True, max_steps=12), server=server)
    assert r.returncode == 2 and len(r.errors()) == 1, r.stderr[-2000:]
    assert str(out / "last" / missing) in r.errors()[0]
    assert not (out / "last" / missing).exists() and (out / "best" / "tokenizer.json").is_file()
