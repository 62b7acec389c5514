"""`qgen.models.unwrap`: the one way to reach the model inside torch.compile / DataParallel (DDP's kind) and peft."""

import torch
from peft import LoraConfig, get_peft_model
from transformers import GPT2Config, GPT2LMHeadModel

from qgen.models.unwrap import unwrap


def _tiny_gpt2() -> GPT2LMHeadModel:
    return GPT2LMHeadModel(GPT2Config(n_layer=1, n_head=2, n_embd=8, vocab_size=16, n_positions=16))


def test_strips_compile_and_data_parallel_and_peft_only_when_asked():
    base = _tiny_gpt2()
    lora = get_peft_model(base, LoraConfig(r=2, target_modules=["c_attn"]))
    wrapped = torch.compile(torch.nn.DataParallel(lora))  # compiles nothing until called
    assert unwrap(wrapped) is lora  # what is saved: the LoRA adapter with its base
    assert unwrap(wrapped, peft=True) is base  # whose forward signature and output layer are the real ones
    assert unwrap(torch.nn.DataParallel(torch.compile(base)), peft=True) is base  # in either order


def test_a_plain_model_is_itself():
    base = _tiny_gpt2()
    assert unwrap(base) is base and unwrap(base, peft=True) is base
