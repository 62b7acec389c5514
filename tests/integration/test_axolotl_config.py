"""An Axolotl config shaped like the OpenCALM quiz project's qlora-opencalm.yml trains end to end through train.py."""

import json

import yaml
from helpers.tiny_conventions import build

from qgen.cli.train import main as train_main
from qgen.core.files import write_json
from qgen.data.quiz import read_quizzes, render
from qgen.models.formats.axolotl_prompts import coverage_text
from qgen.training.config import load_saved

SEED_SHAPED = """
base_model: {model}
model_type: AutoModelForCausalLM
tokenizer_type: AutoTokenizer
load_in_8bit: false
load_in_4bit: true
strict: false
datasets:
  - path: {data}
    type: alpaca
dataset_prepared_path:
val_set_size: 8
output_dir: {out}
adapter: qlora
lora_model_dir:
sequence_len: 256
sample_packing: false
lora_r: 8
lora_alpha: 16
lora_dropout: 0.05
lora_target_modules:
  - query_key_value
wandb_project:
gradient_accumulation_steps: 2
micro_batch_size: 4
num_epochs: 3
max_steps: 2
optimizer: paged_adamw_32bit
lr_scheduler: cosine
learning_rate: 0.0002
train_on_inputs: false
bf16: auto
tf32: false
gradient_checkpointing: true
logging_steps: 1
eval_steps: 1
warmup_steps: 1
special_tokens:
  pad_token: "<|endoftext|>"
"""


def test_seed_shaped_axolotl_qlora_config_trains(jcqa_train, tmp_path, capsys):
    quizzes, _ = read_quizzes(jcqa_train, "jcommonsenseqa")
    rows = [render(q, "train") for q in quizzes[:40]]  # the quiz JSON prepare_quiz.py --style train writes
    write_json(tmp_path / "train.json", rows)
    texts = [r["instruction"] + r["output"] for r in rows] + coverage_text()
    model = build("opencalm", texts, tmp_path / "open-calm-tiny")  # GPT-NeoX with open-calm's tokenizer conventions
    config = tmp_path / "qlora-opencalm.yml"
    out = tmp_path / "run"
    config.write_text(SEED_SHAPED.format(model=model, data=tmp_path / "train.json", out=out), encoding="utf-8")

    assert train_main(["--config", str(config)]) == 0
    assert "done: 2 steps" in capsys.readouterr().out
    saved = load_saved(out / "best")
    assert (saved.model.prompt_format, saved.lora.quantization, saved.data.valid_size) == ("axolotl-alpaca", "4bit", 8)
    adapter = json.loads((out / "best" / "adapter_config.json").read_text(encoding="utf-8"))
    assert (adapter["r"], adapter["lora_alpha"], adapter["target_modules"]) == (8, 16, ["query_key_value"])
    events = [json.loads(line) for line in (out / "metrics.jsonl").read_text(encoding="utf-8").splitlines()]
    valid = [e for e in events if "valid_loss" in e]
    assert [e["step"] for e in valid] == [0, 1, 2]  # the start, then eval_steps: 1 on the 8 held-out examples
    assert valid[-1]["valid_loss"] < valid[0]["valid_loss"]
    assert yaml.safe_load(config.read_text(encoding="utf-8"))["base_model"] == str(model)  # the file is read as is
