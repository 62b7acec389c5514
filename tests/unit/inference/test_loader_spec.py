"""The inference loader builds inputs from the checkpoint's saved InputSpec: input_spec.json, or qgen_config.yaml for
a checkpoint written before it (the same settings either way), defaults for a model qgen did not train."""

from __future__ import annotations

import json
import shutil

import pytest

from qgen.core.constants import SAVED_NAME
from qgen.inference.loader import load_inference_model
from qgen.models.input_spec import INPUT_SPEC_NAME, InputSpec
from qgen.models.loading import resolve
from qgen.training.config import TrainConfig

TEXTS = ["東京は日本の首都です。", "富士山は山梨県と静岡県にあります。", "猫は魚が好きです。", "空は青い。"] * 30


@pytest.fixture(scope="module")
def checkpoint(tmp_path_factory):
    d = tmp_path_factory.mktemp("loader")
    ckpt = d / "best"
    shutil.copytree(resolve("tiny-t5", TEXTS, d / "cache"), ckpt)
    cfg = TrainConfig()
    cfg.model.task, cfg.model.lang, cfg.model.max_source_len, cfg.model.max_target_len = "aqg", "ko", 100, 20
    cfg.save(ckpt)
    return ckpt


def _copy(checkpoint, tmp_path):
    out = tmp_path / "model"
    shutil.copytree(checkpoint, out)
    return out


def test_the_saved_spec_builds_the_inputs(checkpoint):
    im = load_inference_model(str(checkpoint))
    assert im.has_saved_config and im.spec == InputSpec(task="aqg", lang="ko", max_source_len=100, max_target_len=20)
    assert (im.task, im.lang, im.format.max_source_len, im.format.max_target_len) == ("aqg", "ko", 100, 20)
    over = load_inference_model(str(checkpoint), task="qa", lang="ja")  # the caller's task / lang win
    assert (over.task, over.lang, over.format.max_source_len) == ("qa", "ja", 100)


def test_a_checkpoint_written_before_input_spec_loads_the_same(checkpoint, tmp_path):
    old = _copy(checkpoint, tmp_path)
    (old / INPUT_SPEC_NAME).unlink()
    im = load_inference_model(str(old))
    assert im.has_saved_config and im.spec == load_inference_model(str(checkpoint)).spec


def test_inference_reads_input_spec_not_the_training_config(checkpoint, tmp_path):
    d = _copy(checkpoint, tmp_path)
    spec = json.loads((d / INPUT_SPEC_NAME).read_text(encoding="utf-8"))
    (d / INPUT_SPEC_NAME).write_text(json.dumps({**spec, "max_source_len": 50}), encoding="utf-8")
    (d / SAVED_NAME).write_text("a training config this version does not know: 1\n", encoding="utf-8")
    assert load_inference_model(str(d)).format.max_source_len == 50


def test_no_saved_settings_means_the_defaults(checkpoint, tmp_path):
    d = _copy(checkpoint, tmp_path)
    (d / INPUT_SPEC_NAME).unlink()
    (d / SAVED_NAME).unlink()
    im = load_inference_model(str(d), lang="en")
    assert not im.has_saved_config and im.spec == InputSpec(lang="en")


@pytest.mark.parametrize("written_before", [False, True], ids=["with-input-spec", "only-qgen-config"])
def test_an_exported_model_keeps_its_input_settings(checkpoint, tmp_path, written_before):
    from qgen.training.export import export

    src = _copy(checkpoint, tmp_path)
    if written_before:
        (src / INPUT_SPEC_NAME).unlink()
    export(src, tmp_path / "shipped", max_source_len=80)
    im = load_inference_model(str(tmp_path / "shipped"))
    assert (im.task, im.lang, im.format.max_source_len, im.format.max_target_len) == ("aqg", "ko", 80, 20)
    export(src, tmp_path / "as-is")
    assert (tmp_path / "as-is" / INPUT_SPEC_NAME).exists() != written_before  # copied when there is one
    assert load_inference_model(str(tmp_path / "as-is")).format.max_source_len == 100
