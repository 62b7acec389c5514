"""How long peft's `get_peft_model` takes on a 1-layer GPT-2, and whether it imported GPT-QModel to do it.

With the [gptq] extra installed peft imports gptqmodel whenever it builds a LoRA model (peft.tuners.lora.gptq):
    python bench/peft_with_gptqmodel.py      # README, "GPTQ and AWQ checkpoints": 4.9 s with it, 0.3 s without
"""

import sys
import time

from peft import LoraConfig, get_peft_model
from transformers import GPT2Config, GPT2LMHeadModel

model = GPT2LMHeadModel(GPT2Config(n_layer=1, n_embd=32, n_head=2, vocab_size=100))
start = time.time()
get_peft_model(model, LoraConfig(r=2, target_modules=["c_attn"]))
print(f"get_peft_model {time.time() - start:.1f} s, gptqmodel imported: {'gptqmodel' in sys.modules}")
