"""`LoraSpec`: everything qgen.models.lora needs to wrap a model for training, checked where it is built.

The LoRA code takes this, never the training config, so the models layer depends on no training setting it cannot
see. The field names are the training config's (`lora_r`, `quantization` …), so an error names the setting a user
wrote. No torch here: the training config builds a spec (`TrainConfig.lora_spec()`) before any model is loaded.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from qgen.core.values import check_choices, check_finite, check_range

Quantization = Literal["none", "4bit", "8bit"]
ComputeDtype = Literal["auto", "fp32", "bf16", "fp16"]


@dataclass(frozen=True)
class LoraSpec:
    """How to make a model trainable: LoRA rank and targets, k-bit loading, checkpointing, added tokens' rows."""

    lora_r: int = 0  # LoRA rank (0 = full fine-tuning)
    lora_alpha: int = 16
    lora_dropout: float = 0.05
    lora_target_modules: tuple[str, ...] = ()  # empty: peft's per-architecture default; ("all-linear",) every linear
    quantization: Quantization = "none"  # QLoRA: base weights loaded in 4 or 8 bits with bitsandbytes
    double_quant: bool = True  # 4bit: nested quantisation of the constants
    compute_dtype: ComputeDtype = "auto"  # 4bit compute dtype; auto: bf16/fp16 on CUDA, fp32 on the CPU
    gradient_checkpointing: bool = False  # recompute activations in backward (always non-reentrant)
    added_tokens: tuple[str, ...] = ()  # special tokens added to the tokenizer: their embedding rows train too

    def __post_init__(self) -> None:
        check_finite(self)
        check_choices(self)
        if self.quantization != "none" and self.lora_r <= 0:
            raise ValueError("lora_r: quantised weights cannot be trained directly: QLoRA needs --lora-r > 0")
        if self.lora_r < 0:
            raise ValueError(f"lora_r: must be at least 0, got {self.lora_r}")
        check_range("lora_dropout", self.lora_dropout, 0, below=1)
        if self.lora_r and self.lora_alpha <= 0:
            raise ValueError("lora_alpha: lora_alpha must be positive and lora_dropout in [0, 1)")
