"""The InputSpec saved with every checkpoint (input_spec.json) and, for checkpoints written before it, derived from
qgen_config.yaml: the same settings either way, read without the training config."""

from __future__ import annotations

import json

import pytest
import yaml

from qgen.core.constants import SAVED_NAME
from qgen.core.errors import QgenInputError
from qgen.models import pretrained
from qgen.models.input_spec import INPUT_SPEC_NAME, InputSpec, read_input_spec
from qgen.training.config import TrainConfig, from_dict


def _config() -> TrainConfig:
    cfg = TrainConfig()
    cfg.model.task, cfg.model.lang, cfg.model.prompt_format = "qa", "ko", "alpaca"
    cfg.model.max_source_len, cfg.model.max_target_len, cfg.model.max_len = 384, 32, 256
    return cfg


def test_saved_with_the_config_and_read_back(tmp_path):
    cfg = _config()
    cfg.save(tmp_path)
    assert sorted(p.name for p in tmp_path.iterdir()) == [INPUT_SPEC_NAME, SAVED_NAME]
    spec = read_input_spec(tmp_path)
    assert spec == cfg.input_spec() == InputSpec("qa", "ko", "alpaca", 384, 32, 256, False)
    assert json.loads((tmp_path / INPUT_SPEC_NAME).read_text(encoding="utf-8")) == spec.to_dict()


def test_a_checkpoint_written_before_it_gives_the_same_spec(tmp_path):
    cfg = _config()
    cfg.save(tmp_path)
    (tmp_path / INPUT_SPEC_NAME).unlink()  # as every checkpoint written before input_spec.json
    assert read_input_spec(tmp_path) == cfg.input_spec()
    # flat keys (as a hand-written config may have them), strings coerced as the training config coerces them
    (tmp_path / SAVED_NAME).write_text("task: aqg\nmax_len: '128'\ntrust_remote_code: 'yes'\nlr: 1e-4\n")
    assert read_input_spec(tmp_path) == InputSpec(task="aqg", max_len=128, trust_remote_code=True)
    assert from_dict(yaml.safe_load((tmp_path / SAVED_NAME).read_text())).input_spec() == read_input_spec(tmp_path)


def test_the_shipped_model_keeps_loading_its_settings():
    path = pretrained.path("qgen-small-ja")
    # input_spec.json records how inputs are built (the answer's sentence as context); the training config saved
    # beside it (qgen_config.yaml, as every checkpoint has) gives the same settings when input_spec.json is missing
    spec = InputSpec(task="aqg_hl", lang="ja", max_source_len=512, max_target_len=64, context_window="sentence")
    assert read_input_spec(path) == spec
    (path / INPUT_SPEC_NAME).rename(path / "moved.json")
    try:
        assert read_input_spec(path) == spec
    finally:
        (path / "moved.json").rename(path / INPUT_SPEC_NAME)


def test_defaults_are_the_training_defaults(tmp_path):
    assert TrainConfig().input_spec() == InputSpec()
    assert read_input_spec(tmp_path) is None  # no saved settings: the caller applies InputSpec()


@pytest.mark.parametrize("text, says", [
    ('{"task": "qa", "bogus": 1}', "field 'bogus': unknown setting"),
    ('{"max_len": "long"}', "field 'max_len': expected int"),
    ('{"max_len": 3.5}', "field 'max_len': expected int"),
    ('{"task": ', "malformed JSON"),
    ('[1, 2]', "expected a mapping of settings"),
])
def test_a_bad_input_spec_names_the_file_and_field(tmp_path, text, says):
    (tmp_path / INPUT_SPEC_NAME).write_text(text, encoding="utf-8")
    with pytest.raises(QgenInputError) as e:
        read_input_spec(tmp_path)
    assert str(tmp_path / INPUT_SPEC_NAME) in str(e.value) and says in str(e.value)


def test_a_bad_old_config_names_the_file(tmp_path):
    (tmp_path / SAVED_NAME).write_text("model: [unclosed\n", encoding="utf-8")
    with pytest.raises(QgenInputError, match="malformed YAML"):
        read_input_spec(tmp_path)
    (tmp_path / SAVED_NAME).write_text("model:\n  max_len: lots\n", encoding="utf-8")
    with pytest.raises(QgenInputError, match="field 'max_len'"):
        read_input_spec(tmp_path)


def test_types_are_checked():
    with pytest.raises(TypeError):
        InputSpec(max_len="512")
    with pytest.raises(TypeError):
        InputSpec(max_len=True)
