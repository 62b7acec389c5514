"""Starting weights that make an untrained T5 read its input (`qgen build-model --position-prior locality|copy`).

locality: the relative-position biases start as sharp neighbour heads. copy: that, plus a span-copying circuit
written into the initial weights (`apply_copy_prior`, below) — what made qgen-small-ja learn to copy at all.

T5 has no absolute positions: everything positional goes through one learned scalar per head and distance bucket,
initialised near 0 (std d_model^-0.5). AdamW moves a scalar by about `lr` per step, so a head that looks sharply at the
previous token (the first half of the circuit that copies spans from the input) needs thousands of steps just to grow
its bias. Measured on a 9.4M T5 copying JaQuAD sentences (lr 2e-3, batch 32): validation loss 6.35 at step 800 from
the default init, 6.21 with this prior (configs/qgen-small-ja/NOTES.md). The prior only sets the starting values;
they are trained like any other weight.

Encoder heads: sharp at offsets -1, +1, 0, -2, +2 (slope 3 per token), then ALiBi-like wide heads (slopes 0.5, 0.1,
0). Decoder self-attention heads: sharp at 0, -1, -2, then slopes 0.5, 0.25, 0.1, 0.03, 0. With more heads than
listed the rest start flat (0); with fewer the list is cut.
"""

from __future__ import annotations

import torch
from transformers import PreTrainedModel, T5Config
from transformers.models.t5.modeling_t5 import T5Attention

ENCODER_HEADS = [(-1, 3.0), (1, 3.0), (0, 3.0), (-2, 3.0), (2, 3.0), (0, 0.5), (0, 0.1), (0, 0.0)]
DECODER_HEADS = [(0, 3.0), (-1, 3.0), (-2, 3.0), (0, 0.5), (0, 0.25), (0, 0.1), (0, 0.03), (0, 0.0)]


def bias_table(config: T5Config, bidirectional: bool, heads: list[tuple[int, float]]) -> torch.Tensor:
    """(num_buckets, num_heads) biases: head h gets -slope × |distance - target| at each bucket's nearest distance."""
    n_buckets, max_distance = config.relative_attention_num_buckets, config.relative_attention_max_distance
    distances = torch.arange(-max_distance - 8, max_distance + 9)
    buckets = T5Attention._relative_position_bucket(distances, bidirectional=bidirectional, num_buckets=n_buckets,
                                                    max_distance=max_distance)
    nearest: dict[int, int] = {}  # bucket → the distance of smallest magnitude that falls in it
    for d, b in zip(distances.tolist(), buckets.tolist()):
        if b not in nearest or abs(d) < abs(nearest[b]):
            nearest[b] = d
    table = torch.zeros(n_buckets, config.num_heads)
    for b, d in nearest.items():
        for h, (target, slope) in enumerate(heads[: config.num_heads]):
            table[b, h] = -slope * abs(d - target)
    return table


def apply_locality_prior(model: PreTrainedModel, encoder_heads: list[tuple[int, float]] = ENCODER_HEADS) -> None:
    """Overwrite the relative-position biases of a T5 model in place with the locality prior."""
    if getattr(model.config, "model_type", "") not in ("t5", "mt5"):
        raise ValueError(f"the locality prior is for T5 models, not {model.config.model_type}")
    enc = model.encoder.block[0].layer[0].SelfAttention.relative_attention_bias
    dec = model.decoder.block[0].layer[0].SelfAttention.relative_attention_bias
    with torch.no_grad():
        enc.weight.copy_(bias_table(model.config, True, encoder_heads))
        dec.weight.copy_(bias_table(model.config, False, DECODER_HEADS))


# --- the copy prior --------------------------------------------------------------------------------------------------
# Measured on the copy task and on AQG-HL (configs/qgen-small-ja/NOTES.md, "the copy prior"): with the locality
# prior alone a 9.4M T5 still sits at the label prior after 2,000 steps; cross-attention that copies needs two
# attention layers to compose (an encoder head that writes "my previous token" into each position, a decoder head that
# finds the position whose previous token is the one just generated and reads its token), and from random weights that
# composition takes thousands of steps to appear. The copy prior writes that circuit into the initial weights, so
# training starts from a model that already continues a span of its input and only has to learn where to start
# copying and what not to copy.
COPY_QUERY_SCALE = 1.0   # sharpness of the decoder's match: score ~ 45 for the right position vs std ~ 8 for others
COPY_VALUE_SCALE = 3.0   # the copied token outweighs the current one in the residual: logits ~ 10.7 vs 3.6 (8k vocab)
PREV_HEAD_SLOPE = 8.0    # previous-token heads: bias 0 at offset -1, -8 at 0 and -2 (softmax weight > 0.999 at -1)


def apply_copy_prior(model: PreTrainedModel) -> None:
    """Write an induction ("continue the span you are copying") circuit into an untrained T5, in place.

    Residual layout: the first half of d_model carries token identity (the embeddings live there), the second half
    "the previous input token" (zero in the embeddings). Encoder layer 0: heads 0..H/2-1 attend to offset -1 (position
    bias only; q = k = 0) and copy the token half into the previous-token half. Decoder layer 0 cross-attention: heads
    0..H/2-1 match the current token's half (query) against each input position's previous-token half (key) and add
    that position's token half, times COPY_VALUE_SCALE, to the residual, which the tied output layer reads. Every
    other attention and feed-forward branch starts with a zero output projection (it adds nothing until trained), so
    nothing perturbs the circuit at step 0. Everything stays an ordinary trainable T5 weight."""
    config = model.config
    if getattr(config, "model_type", "") not in ("t5", "mt5"):
        raise ValueError(f"the copy prior is for T5 models, not {config.model_type}")
    d, heads, dkv = config.d_model, config.num_heads, config.d_kv
    if heads * dkv != d or heads % 2 or not config.tie_word_embeddings or config.feed_forward_proj != "relu":
        raise ValueError("the copy prior needs num_heads × d_kv = d_model, an even number of heads, tied embeddings "
                         f"and ReLU feed-forward layers (got {heads} × {dkv} vs {d}, "
                         f"tie_word_embeddings={config.tie_word_embeddings}, {config.feed_forward_proj})")
    half, n_copy = d // 2, heads // 2
    apply_locality_prior(model, encoder_heads=[(-1, PREV_HEAD_SLOPE)] * n_copy + ENCODER_HEADS[1:])
    eye = torch.eye(half)
    with torch.no_grad():
        model.shared.weight[:, half:] = 0.0
        for stack in (model.encoder, model.decoder):
            for block in stack.block:
                for layer in block.layer:
                    branch = getattr(layer, "SelfAttention", None) or getattr(layer, "EncDecAttention", None)
                    (branch.o if branch is not None else layer.DenseReluDense.wo).weight.zero_()
        prev = model.encoder.block[0].layer[0].SelfAttention
        prev.q.weight[: half] = 0.0
        prev.k.weight[: half] = 0.0
        prev.v.weight[: half] = 0.0
        prev.v.weight[: half, : half] = eye           # heads 0..H/2-1 read the token half ...
        prev.o.weight[half:, : half] = eye            # ... and write it into the previous-token half
        cross = model.decoder.block[0].layer[1].EncDecAttention
        cross.q.weight[: half] = 0.0
        cross.k.weight[: half] = 0.0
        cross.v.weight[: half] = 0.0
        cross.q.weight[: half, : half] = COPY_QUERY_SCALE * eye   # query: the current token
        cross.k.weight[: half, half:] = eye                       # key: each position's previous token
        cross.v.weight[: half, : half] = eye                      # value: that position's token
        cross.o.weight[: half, : half] = COPY_VALUE_SCALE * eye
