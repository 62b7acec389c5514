"""`--fsdp`: shard parameters, gradients and optimiser state over torchrun ranks with FSDP2 (`fully_shard`).

Each transformer block (the model's `_no_split_modules`: LlamaDecoderLayer, T5Block, GPT2Block …) is one FSDP unit
and the root holds the rest (embeddings, tied LM head). FSDP2 shards every parameter as a DTensor, so a LoRA model's
frozen and trainable parameters may share a unit. Gradients are averaged over ranks like DDP's, so the loop's
scaling is unchanged. Saving gathers full state dicts with collectives every rank must join; only rank 0 writes.
FSDP2 runs on the CPU with gloo (how the tests run it) and on CUDA with nccl. 4/8-bit bitsandbytes weights cannot be
sharded this way: QLoRA uses DDP.
"""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING, Any

import torch

from qgen.core.errors import QgenInputError
from qgen.models.lora import is_quantized
from qgen.models.unwrap import unwrap

if TYPE_CHECKING:  # annotations only: ddp imports this module
    from qgen.training.distributed.ddp import DistInfo

log = logging.getLogger(__name__)


def _options(**kw: bool) -> Any:
    from torch.distributed.checkpoint.state_dict import StateDictOptions  # ~1 s (loads FSDP): only under --fsdp

    return StateDictOptions(full_state_dict=True, **kw)


def block_names(model: torch.nn.Module) -> set[str]:
    """The class names of the transformer blocks (the model's `_no_split_modules`): one FSDP unit each."""
    return set(getattr(unwrap(model, peft=True), "_no_split_modules", None) or [])


def wrap_fsdp(model: torch.nn.Module, process: DistInfo) -> torch.nn.Module:
    """Shard `model` in place (blocks, then the root); a no-op outside torchrun."""
    if not process.enabled:
        log.warning("--fsdp without torchrun (world size 1): training unsharded")
        return model
    from torch.distributed.fsdp import fully_shard  # ~1 s: only under --fsdp

    base = unwrap(model, peft=True)
    if is_quantized(base):
        raise QgenInputError("--fsdp cannot shard 4/8-bit bitsandbytes weights; drop --fsdp (DDP) for QLoRA", field="fsdp")
    names = block_names(model)
    blocks = [m for m in model.modules() if type(m).__name__ in names]
    if not blocks:
        raise QgenInputError(f"--fsdp: no transformer blocks found in {type(base).__name__} (no _no_split_modules)",
                             field="fsdp")
    for block in blocks:
        fully_shard(block)
    fully_shard(model)
    log.info("FSDP: %d %s blocks + root sharded over %d ranks", len(blocks), "/".join(sorted(names)), process.world)
    return model


def is_sharded(model: torch.nn.Module) -> bool:
    """Whether `model` is sharded by FSDP2 (its state is then gathered with collectives)."""
    from torch.distributed.fsdp import FSDPModule  # ~1 s: at the first save or shard, not when training imports

    return isinstance(model, FSDPModule)


def full_state_dict(model: torch.nn.Module) -> dict:
    """The whole model's state dict on rank 0 (CPU tensors), {} on the others. Every rank must call it."""
    from torch.distributed.checkpoint.state_dict import get_model_state_dict  # ~1 s: only under --fsdp

    state = get_model_state_dict(model, options=_options(cpu_offload=True))
    # Tied weights (T5's shared/embed_tokens/lm_head, GPT-2's wte/lm_head) come back as separate copies; make the
    # names share one tensor again so save_pretrained recognises the tie and writes it once, as without FSDP.
    first: dict[int, str] = {}
    for name, p in model.named_parameters(remove_duplicate=False):
        if name in state:
            if id(p) in first:
                state[name] = state[first[id(p)]]
            else:
                first[id(p)] = name
    return state


def full_optimizer_state(model: torch.nn.Module, optimizer: torch.optim.Optimizer) -> dict:
    """The optimiser state, unsharded and keyed by parameter name, on rank 0. Every rank must call it."""
    from torch.distributed.checkpoint.state_dict import get_optimizer_state_dict  # ~1 s: only under --fsdp

    return get_optimizer_state_dict(model, optimizer, options=_options(cpu_offload=True))


def load_optimizer_state(model: torch.nn.Module, optimizer: torch.optim.Optimizer, state: dict) -> None:
    """Shard a state saved by `full_optimizer_state` back into this rank's optimiser (every rank read the file)."""
    from torch.distributed.checkpoint.state_dict import set_optimizer_state_dict  # ~1 s: only under --fsdp

    set_optimizer_state_dict(model, optimizer, optim_state_dict=state, options=_options())
