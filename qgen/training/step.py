"""One step's work, apart from the loop's bookkeeping: forward/backward over a step's micro-batches with the loss
summed over target tokens, and validation summed over ranks."""

from __future__ import annotations

import math

import torch

from qgen.core.files import pause_point
from qgen.training import batching, precision
from qgen.training.distributed import ddp as distributed
from qgen.training.forward import logits_and_labels


def _to(batch: dict, device) -> dict:
    return {k: v.to(device, non_blocking=True) for k, v in batch.items()}


@torch.no_grad()
def evaluate(model, adapter, features, batches, loss_fn, info, prec, point: str | None = None,
             target_only: bool = True) -> dict:
    """Validation loss per target token (and token accuracy) over the whole set, summed over ranks."""
    was_training = model.training
    model.eval()
    loss_sum = tokens = correct = 0.0
    for i, batch in enumerate(batches, 1):
        idx, real = batching.shard(batch, info.rank, info.world)
        b = _to(batching.collate(adapter, features, idx, real), info.device)
        with precision.autocast(prec, info.device):
            logits, labels = logits_and_labels(model, adapter, b, target_only)
        ls, n = loss_fn(logits, labels)
        mask = labels != batching.IGNORE
        loss_sum, tokens = loss_sum + float(ls), tokens + int(n)
        correct += int(((logits.argmax(-1) == labels) & mask).sum())
        if point:
            pause_point(f"{point}:batch{i}")
    model.train(was_training)
    loss_sum, tokens, correct = distributed.sum_([loss_sum, tokens, correct], info)
    loss = loss_sum / max(tokens, 1)
    return {"valid_loss": loss, "valid_ppl": math.exp(min(loss, 50.0)), "valid_accuracy": correct / max(tokens, 1)}


def train_step(model, adapter, micro, loss_fn, info, prec, scaler, point: str | None = None,
               target_only: bool = True) -> tuple[float, float, int]:
    """Forward/backward over one step's micro-batches; returns (this rank's loss_sum, step target tokens and input
    tokens summed over ranks)."""
    kind = adapter.kind
    tokens, n_in = distributed.sum_([sum(batching.count_targets(kind, b) for b in micro),
                                     sum(int(b["attention_mask"].sum()) for b in micro)], info)
    scale = info.world / max(tokens, 1.0)  # DDP averages gradients over ranks; × world makes it a sum
    loss_sum = torch.zeros((), dtype=torch.float64, device=info.device)
    for i, b in enumerate(micro):
        with distributed.no_sync(model, i < len(micro) - 1), precision.autocast(prec, info.device):
            logits, labels = logits_and_labels(model, adapter, _to(b, info.device), target_only)
            ls, _ = loss_fn(logits, labels)
        scaler.scale(ls * scale).backward()
        loss_sum += ls.detach()
        if point:
            pause_point(f"{point}:micro{i + 1}")
    return float(loss_sum), tokens, int(n_in)
