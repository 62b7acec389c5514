"""Dropout that draws ~p·n random numbers instead of n: the same independent Bernoulli(p) drops, sampled as the gaps
between dropped elements.

torch's CPU dropout draws one random number per element, on one core (`bernoulli_`, ~5 ns an element): for the 9.4M
T5 that was 19% of a training step, more than its attention matmuls. The dropped positions of an i.i.d. Bernoulli(p)
sequence are a renewal process whose gaps are i.i.d. Geometric(p), P(gap = k) = (1 - p)^(k-1) p; drawing those gaps
by the inverse CDF (one vectorised log per *dropped* element) and summing them gives masks with exactly that
distribution from 20× fewer draws at p = 0.05. The backward keeps only the dropped positions (8 bytes per dropped
element, not a float per element).

The numbers come from torch's default CPU generator, so `torch.manual_seed`, exact resume (which restores it) and
gradient checkpointing's replay (which re-seeds it) see the same masks; the stream differs from `F.dropout`'s, which
is what `--no-fast-dropout` keeps. Off the CPU (CUDA's fused dropout kernel is already fast), outside training, at
p = 0 and above p = 0.5 (where drops are not rare: a float64 draw per dropped element would cost more memory than
torch's float mask) this is plain `F.dropout`.
"""

from __future__ import annotations

import math

import torch
from torch import nn
from torch.autograd.function import FunctionCtx, once_differentiable
from torch.nn import functional as F

MAX_GAP_P = 0.5  # above this, torch's own dropout (see the module docstring)
_SPARE_SD = 6.0  # gaps drawn per round: the expected count + this many standard deviations (one round, nearly always)


def drop_positions(n: int, p: float) -> torch.Tensor:
    """Sorted flat indices (int64) of the elements to drop: each of range(n) independently with probability p."""
    log_keep = math.log1p(-p)
    parts, last = [], -1
    while True:
        expected = (n - 1 - last) * p
        count = max(int(expected + _SPARE_SD * math.sqrt(expected) + 16), 1)
        u = torch.rand(count, dtype=torch.float64)  # [0, 1): log1p(-u) is finite
        gaps = u.neg_().log1p_().div_(log_keep).floor_().clamp_(max=n).add_(1).to(torch.int64)  # Geometric(p), ≥ 1
        positions = gaps.cumsum_(0).add_(last)
        if positions[-1] >= n:
            parts.append(positions[: int(torch.searchsorted(positions, n))])
            return parts[0] if len(parts) == 1 else torch.cat(parts)
        parts.append(positions)
        last = int(positions[-1])


def _scaled_without(t: torch.Tensor, scale: float, dropped: torch.Tensor) -> torch.Tensor:
    """t · scale with the `dropped` flat (row-major) positions set to 0, as a new contiguous tensor."""
    out = torch.empty(t.shape, dtype=t.dtype, device=t.device)  # row-major whatever t's strides: index = position
    torch.mul(t, scale, out=out)
    out.view(-1).index_fill_(0, dropped, 0.0)
    return out


class _GapDropout(torch.autograd.Function):
    """The gap-drawn mask as an autograd function, so that backward reuses the dropped positions, not a float mask."""

    @staticmethod
    def forward(ctx: FunctionCtx, x: torch.Tensor, p: float) -> torch.Tensor:
        """x scaled by 1/(1-p) with the drawn positions zeroed; only those positions are kept for backward."""
        dropped = drop_positions(x.numel(), p)
        ctx.save_for_backward(dropped)
        ctx.scale = 1.0 / (1.0 - p)
        return _scaled_without(x, ctx.scale, dropped)

    @staticmethod
    @once_differentiable
    def backward(ctx: FunctionCtx, grad: torch.Tensor) -> tuple[torch.Tensor, None]:
        """The same mask and scale on the gradient (p gets none)."""
        (dropped,) = ctx.saved_tensors
        return _scaled_without(grad, ctx.scale, dropped), None


def dropout(x: torch.Tensor, p: float, training: bool = True) -> torch.Tensor:
    """`F.dropout(x, p, training)` in distribution; on the CPU with 0 < p ≤ 0.5 its mask is drawn by gaps."""
    if not training or not 0.0 < p <= MAX_GAP_P or x.device.type != "cpu" or x.numel() == 0:
        return F.dropout(x, p, training)
    return _GapDropout.apply(x, p)


class Dropout(nn.Dropout):
    """nn.Dropout through `dropout` (never in place: the output is a new tensor either way on the CPU)."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """`dropout` with this module's p, only while training."""
        return dropout(x, self.p, self.training)


def use_gap_dropout(model: nn.Module) -> int:
    """Replace every plain nn.Dropout in `model` (LoRA's included) by Dropout with the same p; how many were."""
    found = [(parent, name, child) for parent in model.modules() for name, child in parent.named_children()
             if type(child) is nn.Dropout]
    for parent, name, child in found:
        setattr(parent, name, Dropout(child.p))
    return len(found)
