"""AdamW (fused on CUDA and the CPU) with decoupled weight decay off for biases and norms, and the warmup + decay LR schedule.

`adamw8bit` keeps Adam's two moments in 8 bits with a scale per block of 256 (bitsandbytes' AdamW8bit): 2 bytes of
state a trained parameter instead of 8, what decides whether full fine-tuning of a 336M-1.4B model fits one GPU.
`paged_adamw8bit` also pages that state to CPU memory under GPU memory pressure (CUDA only). On the CPU the 8-bit
step is slow (bitsandbytes' CPU path: ~1 s per 4M parameters), so it is for GPUs, or when memory is what is short.
"""

from __future__ import annotations

import math
import typing

import torch

from qgen.training.config import Optimizer, Scheduler

SCHEDULERS = typing.get_args(Scheduler)
OPTIMIZERS = typing.get_args(Optimizer)
EIGHT_BIT = {"adamw8bit": "AdamW8bit", "paged_adamw8bit": "PagedAdamW8bit"}


def make_optimizer(model: torch.nn.Module, optim, device: torch.device) -> torch.optim.Optimizer:
    """AdamW by default; SGD with momentum 0.9 (`optimizer: sgd`) moves weights linearly in the gradients, which makes two runs that differ
    only in float summation order agree to rounding (Adam's 1/sqrt(v) turns a ~0 gradient's rounding into an O(lr)
    step) — what the equivalence tests (accumulation, DDP, FSDP) compare with."""
    decay: list[torch.nn.Parameter] = []
    no_decay: list[torch.nn.Parameter] = []
    for name, p in model.named_parameters():
        if not p.requires_grad:
            continue
        (no_decay if p.ndim < 2 or "norm" in name.lower() or name.endswith(".bias") else decay).append(p)
    groups = [{"params": decay, "weight_decay": optim.weight_decay}, {"params": no_decay, "weight_decay": 0.0}]
    if optim.optimizer == "sgd":
        return torch.optim.SGD([g for g in groups if g["params"]], lr=optim.lr, momentum=0.9)
    if optim.optimizer in EIGHT_BIT:
        import bitsandbytes as bnb  # only for the 8-bit optimisers (checked by TrainConfig.check)

        return getattr(bnb.optim, EIGHT_BIT[optim.optimizer])(
            [g for g in groups if g["params"]], lr=optim.lr, betas=(optim.adam_beta1, optim.adam_beta2),
            eps=optim.adam_eps)
    return torch.optim.AdamW(
        [g for g in groups if g["params"]], lr=optim.lr, betas=(optim.adam_beta1, optim.adam_beta2), eps=optim.adam_eps,
        fused=device.type in ("cuda", "cpu") or None,  # the CPU's fused kernel: ~3.7x the for-loop step (issue 14)
    )


def warmup_steps(optim, total_steps: int) -> int:
    return optim.warmup_steps if optim.warmup_steps > 0 else math.ceil(optim.warmup_ratio * total_steps)


def lr_factor(step: int, warmup: int, total: int, kind: str) -> float:
    """Multiplier of the peak LR for optimiser step `step` (0-based): linear warmup, then linear/cosine/constant."""
    if warmup and step < warmup:
        return (step + 1) / warmup
    if kind == "constant":
        return 1.0
    progress = min(1.0, (step - warmup) / max(1, total - warmup))
    if kind == "linear":
        return 1.0 - progress
    if kind == "cosine":
        return 0.5 * (1.0 + math.cos(math.pi * progress))
    raise ValueError(f"unknown scheduler {kind!r}; choose from {SCHEDULERS}")


def make_scheduler(optimizer, optim, total_steps: int) -> torch.optim.lr_scheduler.LambdaLR:
    warmup = warmup_steps(optim, total_steps)
    return torch.optim.lr_scheduler.LambdaLR(optimizer, lambda s: lr_factor(s, warmup, total_steps, optim.scheduler))
