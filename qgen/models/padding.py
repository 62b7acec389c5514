"""Padding a batch of token-id rows to one tensor: the one rule every batch of ids goes through (training collation,
generation, quiz scoring)."""

from __future__ import annotations

import torch


def pad_rows(rows: list[list[int]], value: int, *, left: bool = False) -> tuple[torch.Tensor, torch.Tensor]:
    """(ids, mask): `rows` padded with `value` to the longest, as long tensors; the mask is 1 on each row's own ids.

    Right padding by default (an encoder, a training batch, scoring that reads logits at each row's own positions);
    `left=True` for causal generation, so that every prompt ends where the new tokens start.
    """
    n = max(len(r) for r in rows)
    ids = torch.full((len(rows), n), value, dtype=torch.long)
    mask = torch.zeros((len(rows), n), dtype=torch.long)
    for i, r in enumerate(rows):
        at = slice(n - len(r), n) if left else slice(0, len(r))
        ids[i, at] = torch.tensor(r, dtype=torch.long)
        mask[i, at] = 1
    return ids, mask
