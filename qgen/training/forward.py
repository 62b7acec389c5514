"""The training forward: (logits, labels) for the loss, computing the vocabulary projection only where it is needed.

A causal model's loss is on a few target tokens after a long prompt (JCommonsenseQA: ~5 of ~95), but a plain
forward projects *every* position onto the whole vocabulary (for a small model the largest matmul of the step, and
its backward) and `logits[:, :-1]` then costs a B×T×V copy in the loss. Here the causal forward passes the model a
boolean `logits_to_keep` mask of the positions whose next token is a target (transformers ≥ 5 projects only those
rows), so the logits are (targets, V) and the labels the matching targets: the same (logit, label) pairs as the
shifted full logits, the loss sum equal up to float summation order. A seq2seq decoder pads its targets to the batch's
longest (questions of 10-40 tokens: ~40% padding); there a pre-hook on the output layer keeps only the target rows of
its input (T5 has no `logits_to_keep`). Models whose forward has neither use the sequence format's full forward.

A packed batch (qgen.training.packing) carries `position_ids` and no attention mask; the same forward serves it.
"""

from __future__ import annotations

import contextlib
import inspect
from collections.abc import Iterator

import torch

from qgen.core.constants import IGNORE
from qgen.models.formats.sequence import SequenceFormat
from qgen.models.unwrap import unwrap


def keeps_logits(model: torch.nn.Module) -> bool:
    """Whether the model's forward takes a `logits_to_keep` mask (transformers ≥ 5 causal LMs)."""
    try:
        return "logits_to_keep" in inspect.signature(unwrap(model, peft=True).forward).parameters
    except (TypeError, ValueError):
        return False


def causal_targets(labels: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """(keep, targets): keep[b, t] is True where position t predicts a target (labels[b, t + 1] != IGNORE); targets
    are those labels in row-major order, the order `hidden[keep]` takes the rows in."""
    nxt = labels[:, 1:]
    keep = torch.zeros_like(labels, dtype=torch.bool)
    keep[:, :-1] = nxt != IGNORE
    return keep, nxt[nxt != IGNORE]


def _head(model: torch.nn.Module) -> torch.nn.Module | None:
    """The output layer (vocabulary projection), None for a model without one."""
    get = getattr(unwrap(model, peft=True), "get_output_embeddings", None)
    return get() if get is not None else None


@contextlib.contextmanager
def _head_rows(head: torch.nn.Module, keep: torch.Tensor) -> Iterator[None]:
    """While active, the output layer `head` sees only the hidden states where `keep` (B, T) is True: logits
    (N, V)."""
    handle = head.register_forward_pre_hook(lambda module, args: (args[0][keep], *args[1:]))
    try:
        yield
    finally:
        handle.remove()


def logits_and_labels(model: torch.nn.Module, sequence_format: SequenceFormat, batch: dict,
                      target_only: bool) -> tuple[torch.Tensor, torch.Tensor]:
    """The forward for the loss: (logits, labels) aligned position by position (IGNORE where no loss)."""
    head = _head(model) if target_only else None
    if sequence_format.kind != "causal":
        if head is None:
            return sequence_format.logits(model, batch)
        keep = batch["labels"] != IGNORE
        with _head_rows(head, keep):
            logits, labels = sequence_format.logits(model, batch)
        return logits, labels[keep]
    inputs = {"input_ids": batch["input_ids"], "use_cache": False}  # a cache would also turn packing detection off
    if "position_ids" in batch:  # packed rows: attention follows the position ids, no padding mask
        inputs["position_ids"] = batch["position_ids"]
    else:
        inputs["attention_mask"] = batch["attention_mask"]
    keeps = target_only and keeps_logits(model)
    if not (keeps or head is not None):
        return model(**inputs).logits[:, :-1], batch["labels"][:, 1:]
    keep, targets = causal_targets(batch["labels"])
    if keeps:
        return model(**inputs, logits_to_keep=keep).logits, targets
    assert head is not None  # target_only, and the forward has no logits_to_keep
    with _head_rows(head, keep):  # a forward without logits_to_keep: cut the output layer's input instead
        return model(**inputs).logits, targets
