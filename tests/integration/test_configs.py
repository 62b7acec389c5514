"""Every configs/*.yaml preset loads, and trains a few steps with its tiny stand-in model on small real data."""

import json
import shutil
from pathlib import Path

import pytest
import torch
from peft import PeftModel
from safetensors.torch import load_file

from qgen.core.files import write_json, write_jsonl
from qgen.data.jsquad import convert, holdout_split
from qgen.data.korquad import build_rows
from qgen.data.quiz import read_quizzes, render
from qgen.data.squad import read_squad
from qgen.data.tsv import write_tsv
from qgen.models.loading import load_model, resolve
from qgen.training.config import load_saved, load_yaml
from qgen.training.loop import train

CONFIGS = Path(__file__).resolve().parents[2] / "configs"
# preset -> (tiny stand-in, data kind)
PRESETS = {
    "opencalm-small-quiz-qlora.yaml": ("tiny-gpt-neox", "quiz"),
    "t5-base-jsquad-aqg.yaml": ("tiny-t5", "aqg"),
    "gpt2-medium-jsquad-aqg-hl.yaml": ("tiny-gpt2", "aqg_hl"),
    "llama2-7b-korquad-qlora.yaml": ("tiny-llama", "korquad"),
}


@pytest.fixture(scope="module")
def data(jsquad_valid, jcqa_train, korquad_dev, tmp_path_factory):
    """Small real inputs in each preset's format, written as the data_prep converters write them."""
    d = tmp_path_factory.mktemp("data")
    questions, _ = read_squad(jsquad_valid)
    train_q, dev_q = holdout_split(questions[:400], 0.1, seed=0)
    files = {}
    for task in ("aqg", "aqg_hl"):
        write_tsv(d / f"train-{task}.tsv", convert(train_q, task)[:48])
        write_tsv(d / f"dev-{task}.tsv", convert(dev_q, task)[:8])
        files[task] = (d / f"train-{task}.tsv", d / f"dev-{task}.tsv")
    quizzes, _ = read_quizzes(jcqa_train, "jcommonsenseqa")
    write_json(d / "quiz-train.json", [render(q, "train") for q in quizzes[:48]])
    write_json(d / "quiz-valid.json", [render(q, "train") for q in quizzes[48:56]])
    files["quiz"] = (d / "quiz-train.json", d / "quiz-valid.json")
    kq, _ = read_squad(korquad_dev)
    rows, _, _ = build_rows(kq[:56], lang="ko")
    write_jsonl(d / "korquad-train.jsonl", rows[:48])
    write_jsonl(d / "korquad-dev.jsonl", rows[48:])
    files["korquad"] = (d / "korquad-train.jsonl", d / "korquad-dev.jsonl")
    return files


@pytest.fixture(scope="module")
def tiny(data, tmp_path_factory):
    """Tiny models built once from all the texts (Japanese and Korean) and copied into each run's output_dir/tiny."""
    texts = []
    for train_file, _ in data.values():
        texts += [line for line in Path(train_file).read_text(encoding="utf-8").splitlines()]
    root = tmp_path_factory.mktemp("tiny")
    for name, _ in PRESETS.values():
        resolve(name, texts, root)
    return root


def preset_config(name, data, tiny, out: Path, **overrides):
    cfg = load_yaml(CONFIGS / name)
    model, kind = PRESETS[name]
    shutil.copytree(tiny / model, out / "tiny" / model, dirs_exist_ok=True)
    cfg.model.model = model
    cfg.data.train_file, cfg.data.valid_file = map(str, data[kind])
    cfg.run.output_dir = str(out)
    cfg.optim.max_steps, cfg.optim.lr, cfg.optim.warmup_ratio = 4, 5e-3, 0.0
    cfg.data.batch_size, cfg.data.valid_batch_size = 4, 8
    cfg.model.max_len, cfg.model.max_source_len, cfg.model.max_target_len = 128, 128, 32
    cfg.run.log_steps, cfg.run.seed = 1, 0
    for key, value in overrides.items():
        group = next(g for g in ("model", "data", "optim", "run", "lora") if hasattr(getattr(cfg, g), key))
        setattr(getattr(cfg, group), key, value)
    return cfg


def test_presets_are_the_reference_settings():
    names = sorted(p.name for p in CONFIGS.glob("*.yaml"))
    assert names == sorted(PRESETS)
    llama = load_yaml(CONFIGS / "llama2-7b-korquad-qlora.yaml")
    assert (llama.model.model, llama.lora.quantization, llama.optim.lr, llama.data.batch_size, llama.model.max_len) == (
        "meta-llama/Llama-2-7b-hf", "4bit", 2e-4, 8, 256)
    assert llama.lora.lora_r > 0
    calm = load_yaml(CONFIGS / "opencalm-small-quiz-qlora.yaml")
    assert calm.model.model == "cyberagent/open-calm-small" and calm.lora.quantization == "4bit"
    assert calm.model.prompt_format in ("raw", "opencalm")
    assert load_yaml(CONFIGS / "gpt2-medium-jsquad-aqg-hl.yaml").model.add_special_tokens == ["<hl>"]
    assert load_yaml(CONFIGS / "t5-base-jsquad-aqg.yaml").model.model == "sonoisa/t5-base-japanese"


def _train_losses(out):
    rows = [json.loads(x) for x in (out / "metrics.jsonl").read_text().splitlines() if x.strip()]
    return [r["loss"] for r in rows if r.get("event") == "train"]


@pytest.mark.slow
@pytest.mark.parametrize("name", sorted(PRESETS))
def test_preset_trains_with_tiny_model(name, data, tiny, tmp_path):
    cfg = preset_config(name, data, tiny, tmp_path / "run")
    summary = train(cfg)
    out = Path(cfg.run.output_dir)
    losses = _train_losses(out)
    assert len(losses) == 4 and all(torch.isfinite(torch.tensor(losses)))
    assert summary["best_step"] is not None and (out / "best").is_dir() and (out / "last").is_dir()
    saved = load_saved(out / "best")
    assert saved.model.model == PRESETS[name][0]
    if cfg.lora.lora_r > 0:
        # an adapter directory plain peft loads onto the base; the LoRA weights have moved off their zero init
        assert (out / "best" / "adapter_config.json").is_file() and not (out / "best" / "model.safetensors").exists()
        weights = load_file(out / "best" / "adapter_model.safetensors")
        assert any("lora_B" in k and v.abs().sum() > 0 for k, v in weights.items())
        base = load_model(str(out / "tiny" / PRESETS[name][0]))
        assert isinstance(PeftModel.from_pretrained(base, str(out / "best")), PeftModel)
    else:
        assert (out / "best" / "model.safetensors").is_file()
    if cfg.model.add_special_tokens:
        from transformers import AutoTokenizer

        tok = AutoTokenizer.from_pretrained(out / "best")
        assert "<hl>" in tok.extra_special_tokens and tok.tokenize("a<hl>b").count("<hl>") == 1


@pytest.mark.slow
def test_qlora_resume_continues_exactly(data, tiny, tmp_path):
    """A QLoRA run stopped at step 2 and resumed from last/ (an adapter directory) ends where a straight run does."""
    name = "llama2-7b-korquad-qlora.yaml"
    kw = {"lora_dropout": 0.0, "scheduler": "constant"}  # a constant LR: stopping early does not change the schedule
    train(preset_config(name, data, tiny, tmp_path / "a", **kw))
    first = preset_config(name, data, tiny, tmp_path / "b", **kw)
    first.optim.max_steps = 2
    train(first)
    resumed = preset_config(name, data, tiny, tmp_path / "b", resume=True, **kw)
    train(resumed)
    a = load_file(tmp_path / "a" / "last" / "adapter_model.safetensors")
    b = load_file(tmp_path / "b" / "last" / "adapter_model.safetensors")
    assert a.keys() == b.keys()
    for k in a:
        torch.testing.assert_close(b[k], a[k], atol=1e-6, rtol=1e-5)
