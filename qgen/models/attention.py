"""Attention for training on the CPU: the same function as transformers' own, with T5's position bias added inside the
score matmul and the probabilities' dropout drawn by gaps (qgen.models.dropout).

On the CPU transformers runs T5 through SDPA's math path (the learned position bias is a float mask with a gradient,
which the fused kernels do not take): q·kᵀ, + bias, + padding mask, softmax, then torch's dropout over the B×H×T×T
probabilities — the step's largest dropout, one random number per element. Here bias and mask are added once and
`baddbmm` adds q·kᵀ to them in the GEMM; the rest is eager attention. GPT-2 with attention dropout (rinna's
japanese-gpt2 models: 0.1) has the same problem without the bias: SDPA cannot use its fused CPU kernel with dropout
and falls back to the math path and torch's dropout; it gets this function too. Models without attention dropout
keep SDPA. It is registered with transformers' AttentionInterface (transformers ≥ 5, where these models dispatch
through it) together with eager's additive float masks. A saved checkpoint does not record it: config.json keeps no
attention choice, so it loads anywhere, with or without qgen.
"""

from __future__ import annotations

import torch
from torch import nn

from qgen.models import dropout as gap_dropout
from qgen.models.unwrap import unwrap

NAME = "qgen"
# model type → the config field of its attention dropout (None: always, for the position bias inside the GEMM)
MODEL_TYPES = {"t5": None, "mt5": None, "gpt2": "attn_pdrop"}


def attention(module: nn.Module, query: torch.Tensor, key: torch.Tensor, value: torch.Tensor,
              attention_mask: torch.Tensor | None, scaling: float | None = None, dropout: float = 0.0,
              position_bias: torch.Tensor | None = None, **kwargs) -> tuple[torch.Tensor, torch.Tensor]:
    """(output (B, Tq, H, D), probabilities (B, H, Tq, Tk)) — transformers' attention-function signature."""
    batch, heads, q_len, dim = query.shape
    k_len = key.shape[-2]
    scaling = dim ** -0.5 if scaling is None else scaling  # T5 passes 1.0 (its weights are initialised pre-scaled)
    q = query.reshape(batch * heads, q_len, dim)
    k_t = key.reshape(batch * heads, k_len, dim).transpose(1, 2)
    bias = position_bias
    if attention_mask is not None:  # additive float mask (0 / dtype's min), (B, 1, Tq or 1, Tk)
        bias = attention_mask if bias is None else bias + attention_mask
    if bias is not None and bias.shape == (batch, heads, q_len, k_len) and bias.is_contiguous():
        scores = torch.baddbmm(bias.view(batch * heads, q_len, k_len), q, k_t, alpha=scaling)
    else:  # no bias, or one that broadcasts (no padding mask): added in place rather than copied to full size first
        scores = torch.bmm(q, k_t) if scaling == 1.0 else torch.bmm(q, k_t) * scaling
        if bias is not None:
            scores.view(batch, heads, q_len, k_len).add_(bias)
    probs = gap_dropout.dropout(torch.softmax(scores, dim=-1), dropout, module.training)
    out = torch.bmm(probs, value.reshape(batch * heads, k_len, dim))
    return out.view(batch, heads, q_len, dim).transpose(1, 2).contiguous(), probs.view(batch, heads, q_len, k_len)


def _register() -> bool:
    """Make NAME known to transformers (attention + mask functions); False where it has no attention interface."""
    try:
        from transformers import AttentionInterface  # here, not at the top: transformers < 5 has no such interface
        from transformers.masking_utils import AttentionMaskInterface, eager_mask
    except ImportError:
        return False
    AttentionInterface.register(NAME, attention)
    AttentionMaskInterface.register(NAME, eager_mask)
    return True


def use_qgen_attention(model: nn.Module) -> bool:
    """Switch a T5 / mT5, or a GPT-2 with attention dropout (PEFT-wrapped or not), to NAME; False (nothing changed)
    for other models, a GPT-2 without attention dropout, or a transformers without the interface."""
    base = unwrap(model, peft=True)
    config = getattr(base, "config", None)
    kind = getattr(config, "model_type", None)
    if kind not in MODEL_TYPES:
        return False
    dropout_field = MODEL_TYPES[kind]
    if dropout_field is not None and not getattr(config, dropout_field, 0.0):
        return False  # no attention dropout: SDPA's fused kernel is faster
    if not _register():
        return False
    try:
        base.set_attn_implementation(NAME)
    except (AttributeError, ValueError):  # a transformers that refuses custom attention here: keep its own
        return False
    return True
