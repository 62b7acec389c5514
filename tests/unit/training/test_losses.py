"""qgen.training.losses: sums over target tokens with exact token counts, fp32 under autocast, the registry.

Logits are 0 for one class and -1000 for the others, so every value is exact: log-softmax is 0 for that class and
-1000 for the rest (exp(-1000) vanishes next to 1), a token costs 0 or 1000, and sums of those are exact in fp32.
"""

import pytest
import torch

from qgen.core.constants import IGNORE
from qgen.training import losses

V = 4
OFF = -1000.0


def _logits(top: list[list[int]], dtype=torch.float32) -> torch.Tensor:
    """(batch, length, V) logits whose favourite class at each position is `top[b][t]`."""
    out = torch.full((len(top), len(top[0]), V), OFF, dtype=dtype)
    for b, row in enumerate(top):
        for t, c in enumerate(row):
            out[b, t, c] = 0.0
    return out


# two sequences of three positions; the model favours class 0 everywhere
TOP = [[0, 0, 0], [0, 0, 0]]
# right (0 cost), wrong (1000), ignored | wrong, ignored, ignored
LABELS = torch.tensor([[0, 2, IGNORE], [1, IGNORE, IGNORE]])


def test_ce_is_a_sum_over_target_tokens_with_their_count():
    loss, count = losses.cross_entropy(_logits(TOP), LABELS)
    assert loss.item() == 2000.0  # two wrong target tokens; the ignored positions cost nothing
    assert count.item() == 3


def test_ignored_positions_count_for_nothing_whatever_their_logits():
    logits = _logits(TOP)
    logits[0, 2] = torch.tensor([5.0, -7.0, 123.0, 0.5])  # an ignored position: any values
    logits[1, 1:] = 1e4
    loss, count = losses.cross_entropy(logits, LABELS)
    assert (loss.item(), count.item()) == (2000.0, 3)


def test_sums_of_parts_equal_the_whole_batch():
    # what exact gradient accumulation relies on: the loop divides the summed loss by the summed token count
    whole, n = losses.cross_entropy(_logits(TOP), LABELS)
    parts = [losses.cross_entropy(_logits(TOP[i : i + 1]), LABELS[i : i + 1]) for i in range(2)]
    assert sum(p[0] for p in parts).item() == whole.item() and sum(p[1] for p in parts).item() == n.item()
    assert [p[1].item() for p in parts] == [2, 1]


@pytest.mark.parametrize("dtype", [torch.bfloat16, torch.float16])
def test_half_precision_logits_are_summed_in_fp32(dtype):
    loss, _ = losses.cross_entropy(_logits(TOP, dtype), LABELS)
    assert loss.dtype == torch.float32 and loss.item() == 2000.0


def test_fp64_logits_stay_fp64():
    loss, _ = losses.cross_entropy(_logits(TOP, torch.float64), LABELS)
    assert loss.dtype == torch.float64 and loss.item() == 2000.0


def test_label_smoothing_against_the_formula():
    # per token: (1-ε)·(-log p[label]) + ε·mean_j(-log p[j]); here mean_j = (0 + 3·1000) / 4 = 750
    eps = 0.5
    loss, count = losses.label_smoothed(_logits(TOP), LABELS, label_smoothing=eps)
    right, wrong = eps * 750, (1 - eps) * 1000 + eps * 750
    assert loss.item() == right + 2 * wrong and count.item() == 3


def test_label_smoothing_zero_is_ce():
    assert losses.label_smoothed(_logits(TOP), LABELS, label_smoothing=0.0)[0].item() == 2000.0


def test_get_binds_only_the_options_a_loss_declares():
    ce = losses.get("ce", label_smoothing=0.5, unrelated=1)
    assert ce is losses.cross_entropy  # it declares no option: the function itself
    smoothed = losses.get("label_smoothing", label_smoothing=0.5, unrelated=1)
    assert smoothed.keywords == {"label_smoothing": 0.5}
    assert smoothed(_logits(TOP), LABELS)[0].item() == 0.5 * 750 + 2 * (500 + 0.5 * 750)
    with pytest.raises(KeyError):
        losses.get("no-such-loss")


def test_register_makes_a_name_available(monkeypatch):
    monkeypatch.setattr(losses, "_LOSSES", dict(losses._LOSSES))  # other tests may have registered theirs
    before = set(losses.names())

    @losses.register("first_token_only")
    def first(logits, labels, weight: float = 1.0):
        loss, _ = losses.cross_entropy(logits[:, :1], labels[:, :1])
        return weight * loss, (labels[:, :1] != IGNORE).sum()

    assert {"ce", "label_smoothing"} <= before and set(losses.names()) - before == {"first_token_only"}
    assert losses.names() == sorted(losses.names())
    loss, count = losses.get("first_token_only", weight=2.0, label_smoothing=0.1)(_logits(TOP), LABELS)
    assert (loss.item(), count.item()) == (2000.0, 2)  # 0 + 1000 on the first positions, doubled
