"""Loss registry: the loop, not the model, computes the loss, so a user can swap it by name.

A loss is `fn(logits, labels, **options) -> (loss_sum, token_count)`: a *sum* over target tokens (labels != -100), so
the loop can divide by the exact token count of a whole optimiser step (exact gradient accumulation and DDP).
Options a loss declares as keyword arguments (e.g. `label_smoothing`) are filled from the config by name.
"""

from __future__ import annotations

import functools
import inspect
from collections.abc import Callable

import torch
import torch.nn.functional as F

from qgen.core.constants import IGNORE

_LOSSES: dict[str, Callable] = {}


def register(name: str) -> Callable[[Callable], Callable]:
    """Decorator: `@register("focal")` makes `--loss focal` available."""

    def add(fn: Callable) -> Callable:
        _LOSSES[name] = fn
        return fn

    return add


def names() -> list[str]:
    """The registered losses' names (what `--loss` accepts)."""
    return sorted(_LOSSES)


def get(name: str, **options: object) -> Callable:
    """The loss `name` with the options it accepts bound (others ignored)."""
    if name not in _LOSSES:
        raise KeyError(name)
    fn = _LOSSES[name]
    params = inspect.signature(fn).parameters
    bound = {k: v for k, v in options.items() if k in params}
    return functools.partial(fn, **bound) if bound else fn


def _flat(logits: torch.Tensor, labels: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    flat = logits.reshape(-1, logits.shape[-1])
    return (flat if flat.dtype == torch.float64 else flat.float()), labels.reshape(-1)


@register("ce")
def cross_entropy(logits: torch.Tensor, labels: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Token-level cross-entropy summed over target positions (computed in fp32 even under autocast)."""
    flat_logits, flat_labels = _flat(logits, labels)
    loss = F.cross_entropy(flat_logits, flat_labels, ignore_index=IGNORE, reduction="sum")
    return loss, (flat_labels != IGNORE).sum()


@register("label_smoothing")
def label_smoothed(logits: torch.Tensor, labels: torch.Tensor,
                   label_smoothing: float = 0.1) -> tuple[torch.Tensor, torch.Tensor]:
    """Cross-entropy against (1-ε)·one-hot + ε/V, summed over target positions."""
    flat_logits, flat_labels = _flat(logits, labels)
    loss = F.cross_entropy(flat_logits, flat_labels, ignore_index=IGNORE, reduction="sum", label_smoothing=label_smoothing)
    return loss, (flat_labels != IGNORE).sum()
