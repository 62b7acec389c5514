"""Trust comes only from the user's command line (issue 29, item 1): a checkpoint directory that asks for its own
Python code — `auto_map` in config.json / tokenizer_config.json, a `.py` file beside them, `trust_remote_code: true`
in input_spec.json and qgen_config.yaml — must not get that code imported by predict.py, generate.py, the quiz,
train.py (`--model DIR`, `--resume`) or `--config`. The file writes a marker when imported; every case checks it is absent.
"""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from .reliability_helpers import REPO, train_env

EVIL = '''import pathlib
pathlib.Path({marker!r}).write_text("imported")
from transformers import T5Config, T5ForConditionalGeneration


class EvilConfig(T5Config):
    pass


class EvilModel(T5ForConditionalGeneration):
    config_class = EvilConfig
'''


def poison(model: Path, out: Path, marker: Path) -> Path:
    """A copy of a good tiny T5 checkpoint that asks, by every file, for evil.py to be imported."""
    shutil.copytree(model, out)
    (out / "evil.py").write_text(EVIL.format(marker=str(marker)), encoding="utf-8")
    config = json.loads((out / "config.json").read_text(encoding="utf-8"))
    config["auto_map"] = {"AutoConfig": "evil.EvilConfig", "AutoModelForSeq2SeqLM": "evil.EvilModel"}
    (out / "config.json").write_text(json.dumps(config), encoding="utf-8")
    tok = json.loads((out / "tokenizer_config.json").read_text(encoding="utf-8"))
    tok["auto_map"] = {"AutoTokenizer": ["evil.EvilConfig", None]}
    (out / "tokenizer_config.json").write_text(json.dumps(tok), encoding="utf-8")
    spec = json.loads((out / "input_spec.json").read_text(encoding="utf-8"))
    (out / "input_spec.json").write_text(json.dumps({**spec, "trust_remote_code": True}), encoding="utf-8")
    saved = yaml.safe_load((out / "qgen_config.yaml").read_text(encoding="utf-8"))
    saved["model"]["trust_remote_code"] = True
    (out / "qgen_config.yaml").write_text(yaml.safe_dump(saved, allow_unicode=True), encoding="utf-8")
    return out


@pytest.fixture
def evil(reference, tmp_path):
    marker = tmp_path / "IMPORTED"
    return poison(reference / "best", tmp_path / "shared-model", marker), marker


def run(args: list[str], tmp_path: Path) -> subprocess.CompletedProcess:
    # transformers copies remote code into HF_MODULES_CACHE before importing it: keep that inside the test too
    env = train_env(HF_MODULES_CACHE=tmp_path / "hf-modules", PYTHONPATH=REPO)
    return subprocess.run([sys.executable, *args], cwd=REPO, env=env, capture_output=True, text=True, timeout=600)


@pytest.mark.slow
def test_inference_never_imports_a_checkpoints_code(evil, rel_files, tmp_path):
    model, marker = evil
    gen = run(["generate.py", "--model", str(model), "--context", "東京タワーは1958年に完成した。", "--answer", "1958年",
               "--max-new-tokens", "4"], tmp_path)
    assert not marker.exists(), "generate.py imported the checkpoint's evil.py"
    assert gen.returncode == 0, gen.stderr[-2000:]  # transformers' own T5 classes: the model still works
    pred = run(["predict.py", "--model", str(model), "--input", str(rel_files[1]), "--limit", "2",
                "--output", str(tmp_path / "p.jsonl"), "--max-new-tokens", "4"], tmp_path)
    assert not marker.exists(), "predict.py imported the checkpoint's evil.py"
    assert pred.returncode == 0, pred.stderr[-2000:]
    quiz = tmp_path / "quiz.json"
    quiz.write_text(json.dumps([{"id": "a1", "instruction": "問題: 日本の首都は?", "input": "0: 大阪\n1: 東京",
                                 "output": "1: 東京"}], ensure_ascii=False), encoding="utf-8")
    q = run(["predict.py", "--task", "quiz", "--model", str(model), "--input", str(quiz), "--output-dir",
             str(tmp_path / "q")], tmp_path)
    assert not marker.exists(), "the quiz imported the checkpoint's evil.py"
    assert "causal" in q.stderr  # loaded (without its code), then refused as a seq2seq model for a quiz


@pytest.mark.slow
def test_training_never_imports_a_checkpoints_code(evil, rel_files, tmp_path):
    model, marker = evil
    train, dev = rel_files
    common = ["--train-file", str(train), "--max-steps", "1", "--batch-size", "4", "--max-source-len", "32",
              "--max-target-len", "8"]
    r = run(["train.py", "--model", str(model), "--output-dir", str(tmp_path / "run"), *common], tmp_path)
    assert not marker.exists(), "train.py --model imported the checkpoint's evil.py"
    assert r.returncode == 0, r.stderr[-2000:]
    # --resume from a last/ that says trust_remote_code: true (and carries the code) must not trust it either
    last = tmp_path / "run" / "last"
    shutil.copy2(model / "evil.py", last / "evil.py")
    for name in ("config.json", "tokenizer_config.json", "input_spec.json", "qgen_config.yaml"):
        shutil.copy2(model / name, last / name)
    # the saved config names the model this run was started with (--resume refuses another one)
    saved = yaml.safe_load((last / "qgen_config.yaml").read_text(encoding="utf-8"))
    group = saved["model"] if isinstance(saved.get("model"), dict) else saved
    group["model"] = str(model)
    (last / "qgen_config.yaml").write_text(yaml.safe_dump(saved, allow_unicode=True), encoding="utf-8")
    r = run(["train.py", "--model", str(model), "--output-dir", str(tmp_path / "run"), *common[:2],
             "--max-steps", "2", *common[4:], "--resume"], tmp_path)
    assert not marker.exists(), "train.py --resume imported last/'s evil.py"
    assert r.returncode == 0, r.stderr[-2000:]
    # a --config file cannot switch trust on: one error line naming the file and the field
    cfg = tmp_path / "shared.yaml"
    cfg.write_text(f"model: {model}\ntrust_remote_code: true\n", encoding="utf-8")
    r = run(["train.py", "--config", str(cfg), "--output-dir", str(tmp_path / "run2"), *common], tmp_path)
    assert not marker.exists(), "train.py --config imported the checkpoint's evil.py"
    errors = [line for line in r.stderr.splitlines() if line.startswith("error:")]
    assert r.returncode == 2 and len(errors) == 1 and str(cfg) in errors[0] and "--trust-remote-code" in errors[0], \
        r.stderr[-2000:]
    assert "Traceback" not in r.stderr
