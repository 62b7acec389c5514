"""One way to reach the model inside its training wrappers (DDP, torch.compile and, when asked, peft)."""

from __future__ import annotations

import torch
from torch.nn.parallel import DataParallel, DistributedDataParallel


def unwrap(model: torch.nn.Module, peft: bool = False) -> torch.nn.Module:
    """The model inside DDP / DataParallel and torch.compile's wrapper: what is saved and validated. `peft`: also
    inside a PeftModel, the transformers model whose config, forward signature and output layer are the real ones.
    FSDP2 (`fully_shard`) changes the module in place and leaves nothing to strip."""
    while True:
        if isinstance(model, (DistributedDataParallel, DataParallel)):
            model = model.module
        elif isinstance(getattr(model, "_orig_mod", None), torch.nn.Module):  # torch.compile(model)'s wrapper
            model = model._orig_mod
        else:
            break
    get_base_model = getattr(model, "get_base_model", None) if peft else None
    return get_base_model() if get_base_model is not None else model
