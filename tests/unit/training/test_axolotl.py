"""Axolotl configs: the prompt text byte for byte, label masking, each key's mapping and default, refusals, convert-config."""

import pytest
import yaml
from helpers.tiny_conventions import build

from qgen.cli.convert_config import main as convert_main
from qgen.core.constants import IGNORE
from qgen.core.errors import QgenInputError
from qgen.data.examples import Example
from qgen.models.formats.axolotl_prompts import axolotl_alpaca_prompt
from qgen.models.formats.axolotl_prompts import coverage_text as axolotl_coverage
from qgen.models.formats.templates import format_prompt
from qgen.training import axolotl
from qgen.training.config import load_yaml
from qgen.training.run_inputs import hold_out

# Expected texts written out from Axolotl's own templates: src/axolotl/prompters.py, class AlpacaPrompter
# (system_prompt, system_no_input_prompt; match_prompt_style for PromptStyle.INSTRUCT: turn_format,
# turn_no_input_format, system_format "{system}\n\n"), axolotl-ai-cloud/axolotl commit
# 067b021c8b87a9e5e380b9173c704cf7340e30f5; `_build_result` appends the output after the prompt.
AXOLOTL_WITH_INPUT = (
    "Below is an instruction that describes a task, paired with an input that provides further context. "
    "Write a response that appropriately completes the request.\n\n"
    "### Instruction:\nDo X\n\n### Input:\nwith Y\n\n### Response:\n"
)
AXOLOTL_NO_INPUT = (
    "Below is an instruction that describes a task. Write a response that appropriately completes the request.\n\n"
    "### Instruction:\nDo X\n\n### Response:\n"
)
SEED_LIKE = """
base_model: {model}
model_type: AutoModelForCausalLM
load_in_4bit: true
datasets:
  - path: {data}
    type: alpaca
val_set_size: 0.1
output_dir: {out}
adapter: qlora
lora_r: 8
lora_alpha: 16
lora_target_modules: [query_key_value]
sequence_len: 128
micro_batch_size: 4
learning_rate: 0.0002
wandb_project:
flash_attention: false
"""


def test_alpaca_prompt_is_axolotls_text_byte_for_byte():
    assert axolotl_alpaca_prompt("Do X", "with Y") == AXOLOTL_WITH_INPUT
    assert axolotl_alpaca_prompt("Do X") == AXOLOTL_NO_INPUT
    assert axolotl_alpaca_prompt("Do X", "") == AXOLOTL_NO_INPUT  # Axolotl: `if input_text:`
    # through qgen's prompt formats, as training builds it; the cue is written even when the data ends with one
    assert format_prompt(Example("1", "Do X", "out", "with Y"), "axolotl-alpaca") == AXOLOTL_WITH_INPUT
    cue_in_data = "Q?\n\n### Response:\n"
    assert format_prompt(Example("1", cue_in_data, "out"), "axolotl-alpaca").endswith(cue_in_data + "\n\n### Response:\n")


@pytest.fixture(scope="module")
def opencalm_dir(jcqa_train, tmp_path_factory):
    """A tiny GPT-NeoX with open-calm's tokenizer conventions (byte-level BPE, no BOS added), trained on quiz text."""
    from qgen.data.quiz import read_quizzes, render

    quizzes, _ = read_quizzes(jcqa_train, "jcommonsenseqa")
    texts = [render(q, "train")["instruction"] + render(q, "train")["output"] for q in quizzes[:100]]
    return build("opencalm", texts + axolotl_coverage(), tmp_path_factory.mktemp("m") / "opencalm")


def _mini(**keys) -> dict:
    return {"base_model": "m", "datasets": [{"path": "missing.json", "type": "alpaca"}], "learning_rate": 1e-4, **keys}


def test_silent_keys_take_axolotls_schema_defaults():
    settings, rows = axolotl.convert(_mini(adapter="lora", lora_r=4, lora_alpha=8))
    expected = {"max_len": 512, "batch_size": 1, "valid_batch_size": 1, "grad_accum": 1, "epochs": 1.0,
                "max_steps": 0, "optimizer": "adamw", "scheduler": "cosine", "warmup_ratio": 0.03,
                "weight_decay": 0.0, "precision": "auto", "tf32": True, "gradient_checkpointing": False,
                "valid_size": 0.0, "eval_steps": 0, "save_steps": 0, "output_dir": "./model-out",
                "train_on_inputs": False, "early_stopping_patience": 0, "resume": False, "lora_dropout": 0.0,
                "lora_target_modules": [], "quantization": "none", "pack": False, "group_by_length": False,
                "prompt_format": "axolotl-alpaca", "train_file": "missing.json", "model": "m", "lr": 1e-4}
    assert {k: settings[k] for k in expected} == expected
    defaulted = {r.key for r in rows if r.given.startswith("(default")}
    assert {"sequence_len", "micro_batch_size", "num_epochs", "optimizer", "lr_scheduler", "lora_dropout"} <= defaulted


@pytest.mark.parametrize("keys, expected", [
    ({"bf16": False}, {"precision": "fp32"}), ({"bf16": True}, {"precision": "bf16"}),
    ({"fp16": True, "bf16": False}, {"precision": "fp16"}), ({"warmup_steps": 7}, {"warmup_steps": 7}),
    ({"lr_scheduler": "constant_with_warmup"}, {"scheduler": "constant"}), ({"val_set_size": 20}, {"valid_size": 20}),
    ({"adapter": "qlora", "load_in_4bit": True, "lora_r": 8, "lora_alpha": 16, "lora_target_linear": True},
     {"quantization": "4bit", "lora_target_modules": ["all-linear"], "lora_r": 8}),
    ({"load_in_8bit": True, "adapter": "lora", "lora_r": 2, "lora_alpha": 4}, {"quantization": "8bit"}),
    ({"special_tokens": {"additional_special_tokens": ["<hl>"], "pad_token": "<pad>"}}, {"add_special_tokens": ["<hl>"]}),
    ({"output_dir": "o", "resume_from_checkpoint": "o/last"}, {"resume": True}),
    ({"datasets": [{"path": "t.jsonl", "type": "completion"}], "train_on_inputs": True},
     {"prompt_format": "raw", "train_on_inputs": True}),
])
def test_given_keys_map(keys, expected):
    settings, _ = axolotl.convert(_mini(**keys))
    assert {k: settings[k] for k in expected} == expected


@pytest.mark.parametrize("keys, field", [
    ({"deepspeed": "ds.json"}, "deepspeed"), ({"optimizer": "adamw_bnb_8bit"}, "optimizer"),
    ({"lr_scheduler": "one_cycle"}, "lr_scheduler"), ({"adapter": "qlora", "lora_r": 8, "lora_alpha": 8}, "adapter"),
    ({"datasets": [{"path": "a", "type": "sharegpt"}]}, "datasets.type"),
    ({"datasets": [{"path": "a", "type": "alpaca"}, {"path": "b", "type": "alpaca"}]}, "datasets"),
    ({"warmup_steps": 5, "warmup_ratio": 0.1}, "warmup_steps"), ({"eval_steps": 0.25}, "eval_steps"),
    ({"save_steps": "often"}, "save_steps"), ({"learning_rate": "fast"}, "learning_rate"),
    ({"special_tokens": {"eos_token": "</s>"}}, "special_tokens.eos_token"),
    ({"resume_from_checkpoint": "elsewhere/checkpoint-10"}, "resume_from_checkpoint"),
    ({"gradient_checkpointing": "offload"}, "gradient_checkpointing"), ({"micro_batch_size": 2.5}, "micro_batch_size"),
    ({"adapter": "lora", "lora_alpha": 8}, "lora_r"), ({"learning_rate": None}, "learning_rate"),
])
def test_unsupported_is_one_error_naming_the_key(keys, field):
    with pytest.raises(QgenInputError) as e:
        axolotl.convert(_mini(**keys), "a.yml")
    assert e.value.field == field and "\n" not in str(e.value)


def test_dataset_type_must_fit_the_records(tmp_path):
    data = tmp_path / "t.jsonl"
    data.write_text('{"text": "plain"}\n', encoding="utf-8")
    with pytest.raises(QgenInputError, match="needs records with instruction, output"):
        axolotl.convert(_mini(datasets=[{"path": str(data), "type": "alpaca"}]))


def test_train_on_inputs_masks_or_keeps_the_prompt(opencalm_dir):
    from transformers import AutoTokenizer

    from qgen.models.formats.causal import CausalFormat

    tok = AutoTokenizer.from_pretrained(opencalm_dir)
    tok.pad_token = tok.eos_token
    ex = Example("1", "問題: 空の色は?", "青", "選択肢: 青, 赤")
    prompt = axolotl_alpaca_prompt(ex.source, ex.input)
    # Axolotl's InstructionPromptTokenizingStrategy: prompt tokenised alone (special tokens as the tokenizer adds
    # them), then the output with EOS appended; labels IGNORE over the prompt unless train_on_inputs
    p_ids = tok(prompt)["input_ids"]
    r_ids = tok(ex.target)["input_ids"] + [tok.eos_token_id]
    masked = CausalFormat(tok, max_len=512, prompt_format="axolotl-alpaca").encode(ex)
    assert masked == {"input_ids": p_ids + r_ids, "labels": [IGNORE] * len(p_ids) + r_ids}
    kept = CausalFormat(tok, max_len=512, prompt_format="axolotl-alpaca", train_on_inputs=True).encode(ex)
    assert kept == {"input_ids": p_ids + r_ids, "labels": p_ids + r_ids}


def test_hold_out_sizes_and_seed():
    exs = [Example(str(i), "s", "t") for i in range(20)]
    train, valid = hold_out(exs, 0.1, 0, "f")
    assert (len(train), len(valid)) == (18, 2) and set(train).isdisjoint(valid)
    assert hold_out(exs, 0.1, 0, "f") == (train, valid)
    assert len(hold_out(exs, 5, 0, "f")[1]) == 5
    with pytest.raises(QgenInputError, match="valid_size"):
        hold_out(exs, 20, 0, "f")


def test_convert_config_writes_the_same_settings(tmp_path, capsys):
    src = tmp_path / "qlora-opencalm.yml"
    src.write_text(SEED_LIKE.format(model="cyberagent/open-calm-small", data="data/quiz/train.json", out="runs/x"),
                   encoding="utf-8")
    out = tmp_path / "qgen.yaml"
    assert convert_main([str(src), "--output", str(out)]) == 0
    table = capsys.readouterr().out
    assert "| lora_r | 8 | lora_r: 8 |" in table and "| num_epochs | (default 1.0) | epochs: 1.0 |" in table
    assert load_yaml(out) == load_yaml(src)  # the Axolotl file itself also loads (detected by its keys)
    assert yaml.safe_load(out.read_text(encoding="utf-8"))["lora"]["quantization"] == "4bit"


def test_convert_config_refuses_a_qgen_config(tmp_path, capsys):
    src = tmp_path / "q.yaml"
    src.write_text("model: {model: tiny-gpt2}\n", encoding="utf-8")
    assert convert_main([str(src)]) == 2
    assert capsys.readouterr().err.startswith(f"error: {src}: not an Axolotl config")


def test_python_api_takes_an_axolotl_dict_too():
    from qgen.training.run_inputs import as_config

    cfg = as_config(_mini(micro_batch_size=3, adapter="lora", lora_r=4, lora_alpha=8))
    assert (cfg.model.model, cfg.data.batch_size, cfg.lora.lora_r, cfg.optim.epochs) == ("m", 3, 4, 1.0)
