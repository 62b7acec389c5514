"""Packing for causal models: a micro-batch's examples laid end to end in fewer rows, attention kept inside each example.

`--pack` changes how a micro-batch is laid out, not which examples it holds: its examples go, longest first, into
the first row with room (rows as long as the batch's longest example), each with position ids restarting at 0 and
its first label set to IGNORE (the unpacked shift never predicts an example's first token, and in a packed row the
previous example's last token would). The model gets `position_ids` and no attention mask; transformers (≥ 5) then
builds a causal mask that does not cross examples (`masking_utils.find_packed_sequence_indices`: a new example
wherever the position id does not step by 1), and flash attention runs varlen from the same position ids. The
tail of a row is padding with positions 0, 1, … of its own (a block no example sees) and IGNORE labels. So the loss
and gradients equal the unpacked batch's (tests/unit/training/test_packing.py: to 1e-5) with less padding.

Supported where the model's attention honours packed position ids (transformers 5.24: the models built on
`create_causal_mask` — gpt2, gpt_neox, llama, … — with eager, sdpa and flex attention, and flash attention's varlen
path): `check` tries a packed pair against the second example alone before training and refuses the run otherwise.
"""

from __future__ import annotations

import torch

from qgen.core.constants import IGNORE
from qgen.core.errors import QgenInputError


def _leaks(model: torch.nn.Module) -> bool:
    """Whether, in a packed row, an example sees the one before it: two short random sequences, packed vs alone."""
    device = next(model.parameters()).device
    vocab = model.get_input_embeddings().num_embeddings
    g = torch.Generator().manual_seed(0)
    a, b = torch.randint(3, vocab, (1, 5), generator=g), torch.randint(3, vocab, (1, 6), generator=g)
    positions = torch.cat([torch.arange(5), torch.arange(6)])[None]
    was_training = model.training
    model.eval()
    try:
        with torch.no_grad():
            packed = model(input_ids=torch.cat([a, b], 1).to(device), position_ids=positions.to(device),
                           use_cache=False).logits[0, 5:].float()
            alone = model(input_ids=b.to(device), use_cache=False).logits[0].float()
    finally:
        model.train(was_training)
    tol = 1e-3 if next(model.parameters()).dtype == torch.float32 else 5e-2
    return not torch.allclose(packed, alone, atol=tol * (1 + float(alone.abs().max())), rtol=0)


def check(model: torch.nn.Module, model_kind: str) -> None:
    """Raise QgenInputError (one line) when this model cannot keep packed examples apart, found by trying it."""
    config = getattr(model, "config", None)
    model_type = getattr(config, "model_type", "?")
    attention = getattr(config, "_attn_implementation", None) or "?"
    if model_kind != "causal":
        raise QgenInputError(f"--pack is for causal models; {model_type} is {model_kind}", field="pack")
    if _leaks(model):
        raise QgenInputError(f"--pack: {model_type} with {attention} attention lets packed examples attend to each "
                             f"other (its mask ignores position ids); train without --pack", field="pack")


def rows(lengths: list[int]) -> list[list[int]]:
    """First-fit decreasing: positions into `lengths` per row, each row ≤ the longest length."""
    cap = max(lengths)
    out: list[list[int]] = []
    room: list[int] = []
    for i in sorted(range(len(lengths)), key=lambda i: -lengths[i]):
        for r, free in enumerate(room):
            if lengths[i] <= free:
                out[r].append(i)
                room[r] -= lengths[i]
                break
        else:
            out.append([i])
            room.append(cap - lengths[i])
    return out


def collate(features: list[dict], pad_id: int) -> dict:
    """The packed batch: input_ids, labels, position_ids, and attention_mask (1 on real tokens: counted, not passed
    to the model)."""
    layout = rows([len(f["input_ids"]) for f in features])
    n = max(len(f["input_ids"]) for f in features)
    shape = (len(layout), n)
    input_ids = torch.full(shape, pad_id, dtype=torch.long)
    labels = torch.full(shape, IGNORE, dtype=torch.long)
    attention_mask = torch.zeros(shape, dtype=torch.long)
    position_ids = torch.zeros(shape, dtype=torch.long)
    for r, members in enumerate(layout):
        at = 0
        for i in members:
            ids, k = features[i]["input_ids"], len(features[i]["input_ids"])
            input_ids[r, at : at + k] = torch.tensor(ids)
            labels[r, at : at + k] = torch.tensor(features[i]["labels"])
            labels[r, at] = IGNORE
            position_ids[r, at : at + k] = torch.arange(k)
            attention_mask[r, at : at + k] = 1
            at += k
        position_ids[r, at:] = torch.arange(n - at)
    return {"input_ids": input_ids, "attention_mask": attention_mask, "labels": labels, "position_ids": position_ids}
