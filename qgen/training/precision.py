"""Mixed precision: choose the dtype, autocast, the fp16 GradScaler, T5's fp32 feed-forward output, finite checks.

`auto`: bf16 on CUDA GPUs that support it; otherwise fp32 for T5 (pre-trained in bf16, its activations overflow fp16)
and fp16 for other models on fp16-only GPUs; fp32 on the CPU (bf16 autocast on the CPU works with an explicit
`--precision bf16`, but is slower than fp32 on most CPUs).
"""

from __future__ import annotations

import contextlib
import typing

import torch

from qgen.models.dtypes import DTYPES
from qgen.training.config import Precision

PRECISIONS = typing.get_args(Precision)


def resolve(precision: str, device: torch.device, model_type: str = "") -> str:
    if precision not in PRECISIONS:
        raise ValueError(f"unknown precision {precision!r}; choose from {PRECISIONS}")
    if precision != "auto":
        return precision
    if device.type == "cuda":
        if torch.cuda.is_bf16_supported():
            return "bf16"
        return "fp32" if model_type in ("t5", "mt5", "umt5") else "fp16"
    return "fp32"


def autocast(precision: str, device: torch.device):
    if precision == "fp32":
        return contextlib.nullcontext()
    return torch.autocast(device_type=device.type, dtype=DTYPES[precision])


def make_scaler(precision: str, device: torch.device) -> torch.amp.GradScaler:
    """A GradScaler that is enabled only for fp16 (bf16 has fp32's range and needs none)."""
    return torch.amp.GradScaler(device.type, enabled=precision == "fp16")


def _fp32_forward(module: torch.nn.Module, device_type: str):
    original = module.forward

    def forward(hidden_states, *args, **kwargs):
        with torch.autocast(device_type=device_type, enabled=False):
            return original(hidden_states.float(), *args, **kwargs)

    return forward


def keep_t5_ffn_in_fp32(model: torch.nn.Module, device: torch.device) -> int:
    """Run `wo` of every T5 feed-forward block outside autocast, in fp32; returns how many were wrapped.

    transformers protects T5 in fp16 by clamping when hidden states *are* fp16 and by `_keep_in_fp32_modules` when
    *weights* are loaded in fp16; under autocast both see fp32 tensors and stay off, so `wo` (the layer that
    overflows) would silently run in fp16. Wrapping its forward keeps its matmul and output in fp32.
    """
    n = 0
    for module in model.modules():
        if type(module).__name__ in ("T5DenseActDense", "T5DenseGatedActDense") and hasattr(module, "wo"):
            if not getattr(module.wo, "_qgen_fp32", False):
                module.wo.forward = _fp32_forward(module.wo, device.type)
                module.wo._qgen_fp32 = True
            n += 1
    return n


def weights_finite(model: torch.nn.Module) -> bool:
    return all(bool(torch.isfinite(p).all()) for p in model.parameters() if p.is_floating_point())
