"""Precision names (`fp32`, `bf16`, `fp16`) → torch dtypes: one table for training, inference, LoRA, merge and export."""

from __future__ import annotations

import torch

DTYPES = {"fp32": torch.float32, "bf16": torch.bfloat16, "fp16": torch.float16}


def gpu_half() -> torch.dtype:
    """The half precision a CUDA device computes best in: bf16 where supported (no overflow), else fp16."""
    return torch.bfloat16 if torch.cuda.is_bf16_supported() else torch.float16
