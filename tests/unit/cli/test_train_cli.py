"""train.py's command line: bad input is one `error:` line and exit code 2; YAML + flag precedence; task guessing."""

import subprocess
import sys
from pathlib import Path

import pytest

from qgen.cli.train import main
from qgen.core.errors import QgenInputError
from qgen.data.examples import Example
from qgen.training.run_inputs import as_config, guess_task

REPO = Path(__file__).resolve().parents[3]


@pytest.fixture
def tsv(tmp_path):
    p = tmp_path / "train.tsv"
    p.write_text("q1\tanswer: 甲府市 context: 山梨県の県庁所在地は甲府市です。\t山梨県の県庁所在地は?\n", encoding="utf-8")
    return p


def _one_line_error(capsys) -> str:
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith("error: "), err
    return err[0]


def test_bad_yaml_key(tmp_path, tsv, capsys):
    cfg = tmp_path / "c.yaml"
    cfg.write_text(f"train_file: {tsv}\nlearning_rate: 3e-4\n")
    assert main(["--config", str(cfg)]) == 2
    assert "learning_rate" in _one_line_error(capsys)


def test_missing_train_file(tmp_path, capsys):
    assert main(["--train-file", str(tmp_path / "nope.tsv"), "--output-dir", str(tmp_path / "o")]) == 2
    line = _one_line_error(capsys)
    assert "nope.tsv" in line and "train_file" in line


def test_malformed_tsv_line(tmp_path, tsv, capsys):
    bad = tmp_path / "bad.tsv"
    bad.write_text(tsv.read_text(encoding="utf-8") + "q2\tonly two fields\n", encoding="utf-8")
    assert main(["--train-file", str(bad), "--output-dir", str(tmp_path / "o")]) == 2
    line = _one_line_error(capsys)
    assert "bad.tsv" in line and "line 2" in line
    assert not (tmp_path / "o").exists()  # nothing was started


def test_bad_value_and_unknown_choice(tmp_path, tsv, capsys):
    assert main(["--train-file", str(tsv), "--lr", "fast"]) == 2
    assert "'lr'" in _one_line_error(capsys)
    assert main(["--train-file", str(tsv), "--precision", "fp8"]) == 2
    assert "precision" in _one_line_error(capsys)


def test_an_unknown_prompt_format_is_one_line_before_any_work(tmp_path, tsv, capsys):
    out = tmp_path / "o"
    assert main(["--model", "tiny-gpt2", "--train-file", str(tsv), "--output-dir", str(out), "--prompt-format",
                 "bogus"]) == 2
    assert "field 'prompt_format': expected one of auto, chat" in _one_line_error(capsys)
    assert not out.exists()  # refused before the tiny model or anything else was written


def test_model_that_cannot_load_is_a_named_error(tmp_path, tsv, capsys):
    # an empty directory is neither a checkpoint nor (offline) a hub model
    empty = tmp_path / "not-a-model"
    empty.mkdir()
    assert main(["--model", str(empty), "--train-file", str(tsv), "--output-dir", str(tmp_path / "o")]) == 2
    err = capsys.readouterr().err
    assert "cannot load the model" in err and "field 'model'" in err and "Traceback" not in err


def test_train_py_exit_code(tmp_path):
    proc = subprocess.run([sys.executable, str(REPO / "train.py"), "--train-file", str(tmp_path / "missing.tsv")],
                          capture_output=True, text=True, cwd=tmp_path, timeout=300)
    assert proc.returncode == 2 and proc.stderr.strip().startswith("error: ")
    assert len(proc.stderr.strip().splitlines()) == 1 and "Traceback" not in proc.stderr


def test_yaml_then_flags(tmp_path, tsv):
    from qgen.cli.train import parse_args  # the CLI derived from qgen.training.config's dataclasses

    cfg = tmp_path / "c.yaml"
    cfg.write_text(f"optim:\n  lr: 1e-4\n  grad_accum: 4\ntrain_file: {tsv}\n")
    c = parse_args(["--config", str(cfg), "--lr", "3e-4"])
    assert c.optim.lr == 3e-4 and c.optim.grad_accum == 4
    c.check()
    assert as_config({"train_file": str(tsv), "lr": 1e-3}).optim.lr == 1e-3
    assert as_config(cfg).optim.grad_accum == 4


def test_guess_task(tmp_path):
    tsv = tmp_path / "x.tsv"
    assert guess_task([Example("1", "answer: a context: b", "q")], tsv) == "aqg"
    assert guess_task([Example("1", "question: q context: b", "a")], tsv) == "qa"
    assert guess_task([Example("1", "前 <hl> 甲府市 <hl> 後", "q")], tsv) == "aqg_hl"
    assert guess_task([Example("1", "", "text")], tmp_path / "x.jsonl") == "lm"
    assert guess_task([Example("1", "問題: …", "0")], tmp_path / "x.json") == "quiz"
    with pytest.raises(QgenInputError, match="--task"):
        guess_task([Example("1", "translate: x", "y")], tsv)


def test_package_level_train_is_callable_after_importing_the_module(tmp_path):
    import qgen.training.loop  # noqa: F401  (the loop module is not named train, so nothing shadows qgen.train)
    from qgen import train

    with pytest.raises(QgenInputError, match="file not found"):
        train({"train_file": str(tmp_path / "missing.tsv")})


def test_paged_optimizer_needs_cuda(tsv, monkeypatch):
    import torch

    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    with pytest.raises(QgenInputError, match="needs CUDA") as e:
        as_config({"train_file": str(tsv), "optimizer": "paged_adamw8bit"}).check()
    assert e.value.field == "optimizer"
    as_config({"train_file": str(tsv), "optimizer": "adamw8bit"}).check()  # the unpaged one runs on the CPU
