"""Slow feedback (issue 29): a missing model folder took 7.4 s to report and an answer not in the context 12.5 s,
because torch and transformers were imported first. Here every input check runs before them: each case is run in a
fresh interpreter and must end with its error line and exit 2 while torch has not been imported at all."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[3]
PROBE = ("import sys; from qgen.cli import main; rc = main(sys.argv[1:]); "
         "print('torch imported' if 'torch' in sys.modules else 'no torch'); sys.exit(rc)")


def _run(*argv: str, cwd: Path) -> subprocess.CompletedProcess:
    env = {**os.environ, "PYTHONPATH": str(REPO), "HF_HUB_OFFLINE": "1", "TRANSFORMERS_OFFLINE": "1"}
    return subprocess.run([sys.executable, "-c", PROBE, *argv], capture_output=True, text=True, timeout=120,
                          cwd=cwd, env=env)


@pytest.fixture
def tsv(tmp_path) -> Path:
    path = tmp_path / "in.tsv"
    path.write_text("q1\t<hl> 1958年 <hl> に完成した。\t何年?\n", encoding="utf-8")
    return path


@pytest.mark.parametrize("command", ["generate", "predict"])
@pytest.mark.parametrize("model,message", [
    ("./runs/nope/best", "model directory not found"),
    ("someone/not-cached-model", "not in the local hub cache"),  # offline: no hub, said at once
])
def test_a_missing_model_is_reported_before_torch_is_imported(command, model, message, tsv, tmp_path):
    args = {"generate": ["--context", "東京タワーは1958年に完成した。", "--answer", "1958年"],
            "predict": ["--input", str(tsv), "--output", str(tmp_path / "out.jsonl")]}[command]
    r = _run(command, "--model", model, *args, cwd=tmp_path)
    assert r.returncode == 2, r.stderr
    assert r.stderr.startswith("error: ") and message in r.stderr and model in r.stderr
    assert r.stdout.strip() == "no torch"


def test_an_answer_not_in_the_context_is_reported_before_torch_is_imported(tmp_path):
    r = _run("generate", "--model", "qgen-small-ja", "--context", "東京タワーは電波塔である。", "--answer", "1958年",
             cwd=tmp_path)
    assert r.returncode == 2 and "does not occur in the context" in r.stderr and "--answer" in r.stderr
    assert r.stdout.strip() == "no torch"


def test_a_broken_input_spec_is_reported_before_torch_is_imported(tmp_path):
    model = tmp_path / "m"
    model.mkdir()
    (model / "config.json").write_text(json.dumps({"model_type": "t5"}), encoding="utf-8")
    (model / "input_spec.json").write_text(json.dumps({"task": "aqg_hl", "context_window": "page"}), encoding="utf-8")
    r = _run("generate", "--model", str(model), "--context", "c", "--answer", "c", cwd=tmp_path)
    assert r.returncode == 2 and "input_spec.json" in r.stderr and "context_window" in r.stderr
    assert r.stdout.strip() == "no torch"
