"""`qgen export`: fp16 storage, fp32 on load, the same text as the checkpoint; bad checkpoints are named errors."""

import json

import pytest
import torch
from helpers.greedy import assert_greedy_under, teacher_forced_logits, until_stop
from helpers.train_helpers import build_tiny_for, write_jsquad
from safetensors.torch import load_file
from transformers import AutoModelForSeq2SeqLM

from qgen.cli import export as export_model
from qgen.training.config import TrainConfig, load_saved
from qgen.training.export import convert

# fp16-stored weights against the fp32 checkpoint: teacher-forced logits of the tiny T5 below (|logit| ~5) measured
# 2.1e-3 apart (fp16 keeps 11 bits); 1e-2 leaves ~5x room.
FP16_TOL = 1e-2


@pytest.fixture(scope="module")
def checkpoint(jsquad_valid, tmp_path_factory):
    files = write_jsquad(jsquad_valid, tmp_path_factory.mktemp("data"), n_train=40, n_dev=4)
    path = build_tiny_for(tmp_path_factory.mktemp("tiny"), ["tiny-t5"], files[0]) / "tiny-t5"
    TrainConfig().save(path)  # as a best/ directory has it
    return path


def test_export_halves_the_weights_and_loads_as_fp32(checkpoint, tmp_path, capsys):
    out = tmp_path / "shipped"
    assert export_model.main(["--checkpoint", str(checkpoint), "--output", str(out), "--max-source-len", "384"]) == 0
    assert f"written {out}" in capsys.readouterr().out
    stored = load_file(out / "model.safetensors")
    assert all(w.dtype == torch.float16 for w in stored.values())
    assert json.loads((out / "config.json").read_text())["dtype"] == "float32"
    assert load_saved(out).model.max_source_len == 384 and load_saved(checkpoint).model.max_source_len == 512
    a = AutoModelForSeq2SeqLM.from_pretrained(checkpoint).eval()
    b = AutoModelForSeq2SeqLM.from_pretrained(out).eval()
    assert b.dtype == torch.float32
    prompt, stops = [5, 6, 7, 8, 1], (b.generation_config.eos_token_id, b.config.pad_token_id)
    generated = until_stop(b.generate(input_ids=torch.tensor([prompt]), max_new_tokens=8)[0, 1:].tolist(), stops)
    # fp16 storage rounds each weight by <= 2^-11 relative: the same function to FP16_TOL (see there), so the
    # export's greedy text is the checkpoint's own greedy choice at every step up to a near-tie of that size
    target = list(range(10, 18))  # any decoder input: the two must be one function on all of them
    fp32 = teacher_forced_logits(a, prompt, target, seq2seq=True)
    torch.testing.assert_close(teacher_forced_logits(b, prompt, target, seq2seq=True), fp32, rtol=0, atol=FP16_TOL)
    assert_greedy_under(a, prompt, generated, seq2seq=True, tol=2 * FP16_TOL, stop_ids=stops, max_new_tokens=8)


def test_overflow_and_missing_weights_are_named_errors(checkpoint, tmp_path, capsys):
    with pytest.raises(ValueError, match="overflows"):
        convert({"w": torch.tensor([1e6])}, torch.float16)
    empty = tmp_path / "empty"
    empty.mkdir()
    assert export_model.main(["--checkpoint", str(empty), "--output", str(tmp_path / "o")]) == 2
    assert "no model.safetensors" in capsys.readouterr().err and not (tmp_path / "o").exists()

