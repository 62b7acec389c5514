"""Gap-drawn dropout (qgen.models.dropout): the same i.i.d. Bernoulli(p) drops as torch's, the same scaling, the
gradient through the kept elements only, reproducible from torch's seed.

Statistical checks use a fixed seed, so on one machine they are deterministic; their bounds are 5 binomial standard
deviations, so another platform's float rounding in the log (which may move a rare gap by one) cannot fail them.
"""

import math

import pytest
import torch
from torch import nn
from transformers import T5Config, T5ForConditionalGeneration

from qgen.models import dropout as gd
from qgen.models.lora import enable_gradient_checkpointing


def _within(freq: torch.Tensor, p: float, trials: int) -> bool:
    return bool(((freq - p).abs() <= 5 * math.sqrt(p * (1 - p) / trials)).all())


@pytest.mark.parametrize("n,p", [(1, 0.5), (7, 0.05), (10_000, 0.05), (10_000, 0.5), (3_000, 0.9), (50, 1e-12)])
def test_positions_are_sorted_distinct_and_inside(n, p):
    torch.manual_seed(0)
    for _ in range(20):
        pos = gd.drop_positions(n, p)
        assert pos.dtype == torch.int64
        assert bool((pos[1:] > pos[:-1]).all()) and (len(pos) == 0 or (0 <= int(pos[0]) and int(pos[-1]) < n))


@pytest.mark.parametrize("p", [0.05, 0.1, 0.5])
def test_each_position_is_dropped_independently_with_probability_p(p):
    torch.manual_seed(1)
    rows, width = 20_000, 50  # the positions of one long draw, cut into rows: i.i.d. means every column is alike
    mask = torch.zeros(rows * width, dtype=torch.bool)
    mask[gd.drop_positions(rows * width, p)] = True
    mask = mask.view(rows, width)
    assert _within(mask.double().mean(0), p, rows)  # every position: P(drop) = p
    both = (mask[:, :-1] & mask[:, 1:]).double().mean(0)  # neighbours: P(both) = p², i.e. gaps are Geometric(p)
    assert _within(both, p * p, rows)
    apart = (mask[:, :-5] & mask[:, 5:]).double().mean(0)
    assert _within(apart, p * p, rows)


def test_the_first_element_of_each_call_is_dropped_with_probability_p():
    torch.manual_seed(2)
    trials, p = 4_000, 0.2
    first = torch.tensor([float(len(pos) > 0 and int(pos[0]) == 0) for pos in (gd.drop_positions(3, p)
                                                                               for _ in range(trials))])
    assert _within(first.mean().unsqueeze(0), p, trials)


def test_short_first_draws_continue_where_they_stopped(monkeypatch):
    monkeypatch.setattr(gd, "_SPARE_SD", -3.0)  # too few gaps in each round: many rounds per call
    torch.manual_seed(3)
    rows, width, p = 4_000, 20, 0.3
    mask = torch.zeros(rows * width, dtype=torch.bool)
    pos = gd.drop_positions(rows * width, p)
    assert bool((pos[1:] > pos[:-1]).all())
    mask[pos] = True
    assert _within(mask.view(rows, width).double().mean(0), p, rows)


def test_kept_elements_are_scaled_as_torch_does_and_the_gradient_passes_only_there():
    torch.manual_seed(4)
    x = (torch.rand(64, 33) + 0.5).requires_grad_()  # no zeros: a 0 in the output is a drop
    y = gd.dropout(x, 0.25, training=True)
    kept = y != 0
    assert 0.6 < kept.double().mean() < 0.9
    torch_scale = torch.nn.functional.dropout(torch.ones(1000), 0.25, True).max()  # torch's kept value of a 1
    torch.testing.assert_close(y[kept], x.detach()[kept] * torch_scale, rtol=0, atol=0)
    g = torch.randn(64, 33)
    y.backward(g)
    torch.testing.assert_close(x.grad, torch.where(kept, g * torch_scale, 0.0), rtol=0, atol=0)


def test_non_contiguous_input_and_gradient():
    torch.manual_seed(5)
    base = (torch.rand(40, 30) + 0.5).requires_grad_()
    x = base.t()  # a transposed view
    y = gd.dropout(x, 0.3)
    kept = y != 0
    torch.testing.assert_close(y[kept], (x * (1 / 0.7))[kept].detach())
    g = torch.ones(1, 40).expand(30, 40)  # an expanded (stride 0) gradient
    y.backward(g)
    torch.testing.assert_close(base.grad.t(), torch.where(kept, 1 / 0.7, 0.0))


def test_the_seed_decides_the_mask():
    x = torch.ones(1000)
    torch.manual_seed(6)
    a = gd.dropout(x, 0.1)
    torch.manual_seed(6)
    b = gd.dropout(x, 0.1)
    c = gd.dropout(x, 0.1)
    assert torch.equal(a, b) and not torch.equal(b, c)


def test_identity_outside_training_and_torchs_rule_at_the_ends(monkeypatch):
    x = torch.randn(10, 10)
    assert gd.dropout(x, 0.5, training=False) is x
    assert torch.equal(gd.dropout(x, 0.0), x)
    assert torch.equal(gd.dropout(x, 1.0), torch.zeros_like(x))
    assert gd.dropout(torch.empty(0, 3), 0.5).shape == (0, 3)
    calls = []
    monkeypatch.setattr(gd, "drop_positions", lambda n, p: calls.append(p) or torch.zeros(0, dtype=torch.int64))
    gd.dropout(x, 0.5)
    gd.dropout(x, 0.7)  # frequent drops: torch's own mask
    assert calls == [0.5]


def _tiny_t5(dropout_rate=0.1):
    torch.manual_seed(0)
    return T5ForConditionalGeneration(T5Config(vocab_size=120, d_model=32, d_kv=8, d_ff=64, num_layers=2,
                                               num_heads=4, dropout_rate=dropout_rate, decoder_start_token_id=0))


def test_every_plain_dropout_module_is_replaced_with_the_same_p():
    model = _tiny_t5(0.15)
    before = sum(type(m) is nn.Dropout for m in model.modules())
    assert before > 10 and gd.use_gap_dropout(model) == before
    swapped = [m for m in model.modules() if isinstance(m, nn.Dropout)]
    assert len(swapped) == before and all(type(m) is gd.Dropout and m.p == 0.15 for m in swapped)
    assert gd.use_gap_dropout(model) == 0
    model.eval()
    ids = torch.randint(2, 120, (2, 9))
    with torch.no_grad():  # eval: no dropout, the same model as before
        reference = _tiny_t5(0.15).eval()(input_ids=ids, labels=ids).logits
        torch.testing.assert_close(model(input_ids=ids, labels=ids).logits, reference, rtol=0, atol=0)


def test_gradient_checkpointing_replays_the_same_masks():
    ids, labels = torch.randint(2, 120, (3, 12)), torch.randint(2, 120, (3, 5))
    grads = []
    for checkpointing, seed in ((False, 7), (True, 7), (False, 8)):
        model = _tiny_t5(0.2)
        gd.use_gap_dropout(model)
        model.train()
        if checkpointing:
            enable_gradient_checkpointing(model)
        torch.manual_seed(seed)
        model(input_ids=ids, labels=labels).loss.backward()
        grads.append({n: p.grad for n, p in model.named_parameters()})
    same, other = (max(float((g[n] - grads[0][n]).abs().max()) for n in g) for g in grads[1:])
    # recomputation sums the gradients in another order (1e-8 here); other masks (another seed) move them by ~1e-2
    assert same < 1e-6 < 1e-3 < other
