"""The training config's checks live in its dataclasses: a group refuses a bad value when built, `TrainConfig.check`
names the setting and the --config file it came from, and the LoRA code gets a `LoraSpec` checked once a run."""

from __future__ import annotations

import typing

import pytest

from qgen.core.errors import QgenInputError
from qgen.core.text import LANGS
from qgen.models.input_spec import CONTEXT_WINDOWS
from qgen.models.lora_spec import LoraSpec
from qgen.training import config as C


@pytest.mark.parametrize("build, says", [
    (lambda: C.OptimArgs(lr=-1.0), "lr: must be > 0, got -1.0"),
    (lambda: C.OptimArgs(scheduler="steps"), "scheduler: expected one of linear, cosine, constant, got 'steps'"),
    (lambda: C.ModelArgs(max_len=1), "max_len: must be >= 2 and <= 1048576, got 1"),
    (lambda: C.DataArgs(valid_size=0.1, valid_file="v.tsv"), "valid_size: give valid_file or valid_size, not both"),
    (lambda: C.RunArgs(seed=-1), "seed: must be >= 0 and <= 4294967295, got -1"),
    (lambda: C.DistArgs(dist_timeout=float("nan")), "dist_timeout: must be a finite number, got nan"),
    (lambda: C.LoraArgs(quantization="2bit"), "quantization: expected one of none, 4bit, 8bit, got '2bit'"),
    (lambda: LoraSpec(quantization="4bit"), "lora_r: quantised weights cannot be trained directly"),
    (lambda: LoraSpec(lora_r=4, lora_alpha=0), "lora_alpha: lora_alpha must be positive"),
])
def test_a_group_refuses_a_bad_value_when_built(build, says):
    with pytest.raises(ValueError, match="^" + says.replace("(", r"\(").replace(")", r"\)")):
        build()


def test_check_names_the_setting_and_the_file_that_set_it(tmp_path):
    (tmp_path / "t.tsv").write_text("1\tanswer: a context: b\tq\n", encoding="utf-8")
    yaml = tmp_path / "c.yaml"
    yaml.write_text(f"train_file: {tmp_path / 't.tsv'}\nlora_r: -1\n", encoding="utf-8")
    cfg = C.load_yaml(yaml)  # set after the groups were built: the check comes with cfg.check()
    with pytest.raises(QgenInputError) as e:
        cfg.check()
    assert str(e.value) == f"{yaml}, field 'lora_r': must be at least 0, got -1"
    cfg.lora.lora_r, cfg.lora.quantization, cfg.dist.fsdp = 4, "4bit", True
    with pytest.raises(QgenInputError, match="field 'fsdp': --fsdp with --quantization is not supported"):
        cfg.check()
    cfg.dist.fsdp, cfg.optim.warmup_ratio = False, 1.0  # a group's field set after it was built: checked again
    with pytest.raises(QgenInputError, match="field 'warmup_ratio': must be >= 0 and < 1, got 1.0"):
        cfg.check()


def test_the_lora_spec_is_built_and_checked_once_while_its_settings_stay(monkeypatch):
    built = []
    check = LoraSpec.__post_init__
    monkeypatch.setattr(LoraSpec, "__post_init__", lambda self: (built.append(self), check(self))[1])
    cfg = C.from_dict({"lora_r": 4, "precision": "bf16", "add_special_tokens": ["<hl>"]})
    spec = cfg.lora_spec()
    assert cfg.lora_spec() is spec and len(built) == 1
    assert (spec.compute_dtype, spec.added_tokens, spec.lora_target_modules) == ("bf16", ("<hl>",), ())
    cfg.lora.lora_r = 8  # a changed setting: a new spec, checked
    assert cfg.lora_spec().lora_r == 8 and len(built) == 2


def test_the_choices_are_those_of_the_modules_that_own_them():
    from qgen.models.formats.templates import FORMATS
    from qgen.training import precision, schedule

    assert typing.get_args(C.Lang) == LANGS and typing.get_args(C.ContextWindow) == CONTEXT_WINDOWS
    assert typing.get_args(C.PromptFormat) == FORMATS
    assert precision.PRECISIONS == typing.get_args(C.Precision)
    assert set(schedule.EIGHT_BIT) == {o for o in schedule.OPTIMIZERS if o.endswith("8bit")}
    assert set(C.METRICS) == set(typing.get_args(C.Metric))


def test_a_saved_config_with_literal_fields_loads(tmp_path):
    cfg = C.from_dict({"precision": "bf16", "scheduler": "cosine", "quantization": "8bit", "lora_r": 2})
    cfg.save(tmp_path)
    again = C.load_saved(tmp_path)
    assert again.to_dict() == cfg.to_dict()


@pytest.mark.slow  # two tiny training runs: 17 s on 2 busy cores
def test_a_lora_run_and_its_resume_each_check_the_lora_settings_once(tmp_path, monkeypatch):
    from qgen.training.loop import train

    built = []
    check = LoraSpec.__post_init__
    monkeypatch.setattr(LoraSpec, "__post_init__", lambda self: (built.append(self), check(self))[1])
    tsv = tmp_path / "t.tsv"
    tsv.write_text("".join(f"{i}\tanswer: 甲府市 context: 県庁所在地は甲府市です。\t県庁所在地は?\n" for i in range(4)),
                   encoding="utf-8")
    settings = {"model": "tiny-gpt2", "train_file": str(tsv), "output_dir": str(tmp_path / "o"), "lora_r": 4,
                "batch_size": 4, "log_steps": 1}
    train({**settings, "max_steps": 1})
    assert len(built) == 1  # cfg.check() built it; the model build took the same spec
    train({**settings, "max_steps": 2, "resume": True})
    assert len(built) == 2 and (tmp_path / "o" / "last" / "adapter_config.json").is_file()
