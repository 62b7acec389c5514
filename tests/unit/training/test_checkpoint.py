"""qgen.training.checkpoint on a 1-layer GPT-2 built in memory: what `last/` and `best/` hold, the RNG round trip,
refusing non-finite weights, and each damaged file named by a QgenInputError (the kill/corruption sweeps of whole
runs: tests/integration/reliability/)."""

import json
import random

import numpy as np
import pytest
import torch
from transformers import GPT2Config, GPT2LMHeadModel

from qgen.core.errors import QgenInputError
from qgen.training import checkpoint
from qgen.training.checkpoint import STATE_JSON, STATE_PT
from qgen.training.config import TrainConfig

INFO = {"step": 3, "epoch": 1, "batch": 2, "best_metric": 1.5}


class _Tokenizer:
    def save_pretrained(self, directory):  # what verify() asks of a saved tokenizer: its config and a vocabulary
        (directory / "tokenizer_config.json").write_text("{}")
        (directory / "tokenizer.json").write_text("{}")


@pytest.fixture()
def model():
    torch.manual_seed(0)
    return GPT2LMHeadModel(GPT2Config(n_layer=1, n_embd=8, n_head=2, n_positions=8, vocab_size=16))


def _state(model) -> dict:
    optimizer = torch.optim.SGD(model.parameters(), lr=0.5)
    return {"optimizer": optimizer.state_dict(), "scheduler": {"last_epoch": 3}, "scaler": {},
            "rng": checkpoint.rng_state()}


def _save_last(tmp_path, model):
    return checkpoint.save(tmp_path / "last", model, _Tokenizer(), TrainConfig(), INFO, state=_state(model))


def _draws() -> tuple:
    return random.random(), np.random.rand(), torch.rand(2).tolist()


def test_rng_state_round_trip_through_a_weights_only_load(tmp_path):
    torch.save({"rng": checkpoint.rng_state()}, tmp_path / "s.pt")
    first = _draws()
    checkpoint.set_rng_state(torch.load(tmp_path / "s.pt", weights_only=True)["rng"])
    assert _draws() == first  # python, numpy and torch continue exactly as before the save


def test_last_holds_weights_config_and_state(tmp_path, model):
    last = _save_last(tmp_path, model)
    assert {"config.json", "model.safetensors", "qgen_config.yaml", STATE_PT, STATE_JSON} <= {p.name for p in last.iterdir()}
    assert sorted(p.name for p in tmp_path.iterdir()) == ["last"]  # no temporary directory left beside it
    checkpoint.verify(last, with_state=True)
    state, info = checkpoint.load_state(last)
    assert info == INFO and state["scheduler"] == {"last_epoch": 3}
    assert checkpoint.resumable(last)
    loaded = GPT2LMHeadModel.from_pretrained(last)  # a plain Hugging Face directory
    assert all(torch.equal(a, b) for a, b in zip(loaded.state_dict().values(), model.state_dict().values()))


def test_best_has_no_training_state(tmp_path, model):
    best = checkpoint.save(tmp_path / "best", model, _Tokenizer(), TrainConfig(), INFO)
    assert not (best / STATE_PT).exists() and json.loads((best / STATE_JSON).read_text()) == INFO
    checkpoint.verify(best)
    with pytest.raises(QgenInputError, match="missing") as e:
        checkpoint.verify(best, with_state=True)
    assert e.value.path == best / STATE_PT


def test_no_checkpoint_yet_is_not_resumable(tmp_path):
    assert checkpoint.resumable(tmp_path / "last") is False


@pytest.mark.parametrize("where", ["model", "weights"])
def test_non_finite_weights_are_refused_and_the_previous_copy_kept(tmp_path, model, where):
    last = _save_last(tmp_path, model)
    before = (last / "model.safetensors").read_bytes()
    with torch.no_grad():
        model.lm_head.weight[0, 0] = float("nan")
    weights = {k: v.clone() for k, v in model.state_dict().items()} if where == "weights" else None
    with pytest.raises(checkpoint.NonFiniteWeightsError):
        checkpoint.save(last, model, _Tokenizer(), TrainConfig(), INFO, state=_state(model), weights=weights)
    assert (last / "model.safetensors").read_bytes() == before
    assert sorted(p.name for p in tmp_path.iterdir()) == ["last"]


def test_a_write_that_fails_is_a_checkpoint_write_error(tmp_path, model):
    (tmp_path / "file").write_text("not a directory")
    with pytest.raises(checkpoint.CheckpointWriteError, match="cannot write"):
        checkpoint.save(tmp_path / "file" / "last", model, _Tokenizer(), TrainConfig(), INFO)


@pytest.mark.parametrize("content, field, message", [
    ("{", None, "unreadable"),
    ("[1, 2]", None, "expected a JSON object"),
    ('{"step": -1, "epoch": 0, "batch": 0}', "step", "non-negative integer"),
    ('{"step": 1, "epoch": 0}', "batch", "non-negative integer"),
    ('{"step": 1.5, "epoch": 0, "batch": 0}', "step", "non-negative integer"),
])
def test_a_bad_trainer_state_json_is_named(tmp_path, model, content, field, message):
    last = _save_last(tmp_path, model)
    (last / STATE_JSON).write_text(content)
    with pytest.raises(QgenInputError, match=message) as e:
        checkpoint.load_state(last)
    assert (e.value.path, e.value.field) == (last / STATE_JSON, field)
    with pytest.raises(QgenInputError, match=message):
        checkpoint.resumable(last)


def test_a_bad_trainer_state_pt_is_named(tmp_path, model):
    last = _save_last(tmp_path, model)
    state = torch.load(last / STATE_PT, weights_only=True)
    del state["rng"], state["scaler"]
    torch.save(state, last / STATE_PT)
    with pytest.raises(QgenInputError, match="training state lacks scaler, rng") as e:
        checkpoint.load_state(last)
    assert e.value.path == last / STATE_PT
    (last / STATE_PT).write_bytes(b"not a torch file")
    with pytest.raises(QgenInputError, match="unreadable training state"):
        checkpoint.load_state(last)
    (last / STATE_PT).unlink()
    with pytest.raises(QgenInputError, match="missing"):
        checkpoint.load_state(last)


def test_truncated_weights_are_named_before_any_load(tmp_path, model):
    last = _save_last(tmp_path, model)
    weights = last / "model.safetensors"
    weights.write_bytes(weights.read_bytes()[:-10])
    with pytest.raises(QgenInputError, match="truncated") as e:
        checkpoint.resumable(last)
    assert e.value.path == weights


@pytest.mark.parametrize("name", ["config.json", "qgen_config.yaml", "model.safetensors"])
def test_a_missing_file_is_named(tmp_path, model, name):
    last = _save_last(tmp_path, model)
    (last / name).unlink()
    with pytest.raises(QgenInputError, match="missing"):
        checkpoint.verify(last)
