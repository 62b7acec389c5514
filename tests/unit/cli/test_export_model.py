"""`qgen export`: fp16 storage, fp32 on load, the same text as the checkpoint; bad checkpoints are named errors."""

import json

import pytest
import torch
from helpers.train_helpers import build_tiny_for, write_jsquad
from safetensors.torch import load_file
from transformers import AutoModelForSeq2SeqLM

from qgen import export_model
from qgen.training.config import TrainConfig, load_saved


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
    ids = torch.tensor([[5, 6, 7, 8, 1]])
    # fp16 storage rounds each weight by <= 2^-11 relative: greedy output of this random model stays the same
    assert torch.equal(a.generate(input_ids=ids, max_new_tokens=8), b.generate(input_ids=ids, max_new_tokens=8))


def test_overflow_and_missing_weights_are_named_errors(checkpoint, tmp_path, capsys):
    with pytest.raises(ValueError, match="overflows"):
        export_model.convert({"w": torch.tensor([1e6])}, torch.float16)
    empty = tmp_path / "empty"
    empty.mkdir()
    assert export_model.main(["--checkpoint", str(empty), "--output", str(tmp_path / "o")]) == 2
    assert "no model.safetensors" in capsys.readouterr().err and not (tmp_path / "o").exists()
