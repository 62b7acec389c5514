"""qgen.training.schedule: the warmup + decay factors (powers of two, so exact), the scheduler that applies them,
and which parameters get weight decay."""

from dataclasses import replace

import pytest
import torch

from qgen.training.config import OptimArgs
from qgen.training.schedule import SCHEDULERS, lr_factor, make_optimizer, make_scheduler, warmup_steps

CPU = torch.device("cpu")


def test_linear_warmup_then_linear_decay_to_zero():
    # warmup 4 of 12 steps: (step + 1) / 4 during warmup, then 1 - (step - 4) / 8, and 0 from the last step on
    got = [lr_factor(s, 4, 12, "linear") for s in range(14)]
    assert got == [0.25, 0.5, 0.75, 1.0, 1.0, 0.875, 0.75, 0.625, 0.5, 0.375, 0.25, 0.125, 0.0, 0.0]


def test_cosine_and_constant_after_the_same_warmup():
    cos = [lr_factor(s, 4, 12, "cosine") for s in (0, 3, 4, 8, 12, 20)]
    assert cos == [0.25, 1.0, 1.0, 0.5, 0.0, 0.0]  # cos(0) = 1, cos(pi/2) ~ 6e-17 (lost in 1 + x), cos(pi) = -1
    assert [lr_factor(s, 4, 12, "constant") for s in (0, 3, 4, 11, 50)] == [0.25, 1.0, 1.0, 1.0, 1.0]


def test_no_warmup_starts_at_the_peak():
    assert [lr_factor(s, 0, 8, "linear") for s in (0, 4, 8)] == [1.0, 0.5, 0.0]
    assert lr_factor(0, 0, 8, "cosine") == 1.0


def test_unknown_scheduler_is_refused_with_the_choices():
    with pytest.raises(ValueError, match="unknown scheduler 'step'") as e:
        lr_factor(5, 0, 8, "step")
    assert all(name in str(e.value) for name in SCHEDULERS)


def test_warmup_steps_win_over_the_ratio():
    assert warmup_steps(OptimArgs(warmup_steps=3, warmup_ratio=0.5), 100) == 3
    assert warmup_steps(OptimArgs(warmup_ratio=0.25), 10) == 3  # ceil(2.5)
    assert warmup_steps(OptimArgs(warmup_ratio=0.25), 8) == 2
    assert warmup_steps(OptimArgs(), 8) == 0


@pytest.mark.parametrize("kind", SCHEDULERS)
def test_scheduler_sets_lr_factor_times_the_peak(kind):
    param = torch.nn.Parameter(torch.zeros(2))
    optim = OptimArgs(optimizer="sgd", lr=2.0, warmup_ratio=0.25, scheduler=kind)
    optimizer = make_optimizer(torch.nn.ParameterList([param]), optim, CPU)
    scheduler = make_scheduler(optimizer, optim, total_steps=16)  # warmup ceil(0.25 * 16) = 4
    seen = []
    for _ in range(18):
        seen.append(optimizer.param_groups[0]["lr"])
        optimizer.step()  # no gradients: the weights do not move, only the schedule advances
        scheduler.step()
    assert seen == [2.0 * lr_factor(s, 4, 16, kind) for s in range(18)]
    assert seen[:4] == [0.5, 1.0, 1.5, 2.0]


class _Block(torch.nn.Module):
    def __init__(self):
        super().__init__()
        self.proj = torch.nn.Linear(3, 2)  # weight decays, bias does not
        self.layer_norm = torch.nn.LayerNorm(2)  # 1-d: no decay
        self.norm_gain = torch.nn.Parameter(torch.ones(2, 2))  # 2-d but a norm by name: no decay
        self.frozen = torch.nn.Linear(2, 2)
        self.frozen.requires_grad_(False)


def _ids(group) -> set[int]:
    return {id(p) for p in group["params"]}


@pytest.mark.parametrize("name", ["adamw", "sgd"])
def test_weight_decay_skips_biases_norms_and_frozen_weights(name):
    block = _Block()
    optim = replace(OptimArgs(), optimizer=name, weight_decay=0.25, lr=0.5)
    optimizer = make_optimizer(block, optim, CPU)
    decay, no_decay = optimizer.param_groups
    assert _ids(decay) == {id(block.proj.weight)} and decay["weight_decay"] == 0.25
    assert _ids(no_decay) == {id(block.proj.bias), id(block.layer_norm.weight), id(block.layer_norm.bias),
                              id(block.norm_gain)}
    assert no_decay["weight_decay"] == 0.0
    assert all(g["lr"] == 0.5 for g in optimizer.param_groups)
    if name == "sgd":
        assert isinstance(optimizer, torch.optim.SGD) and decay["momentum"] == 0.9
    else:
        assert isinstance(optimizer, torch.optim.AdamW)
        assert (decay["betas"], decay["eps"]) == ((optim.adam_beta1, optim.adam_beta2), optim.adam_eps)


def test_a_group_with_no_parameters_is_left_out():
    optimizer = make_optimizer(torch.nn.LayerNorm(4), OptimArgs(weight_decay=0.1), CPU)
    assert len(optimizer.param_groups) == 1 and optimizer.param_groups[0]["weight_decay"] == 0.0


def _fit(optimizer_name: str, steps: int = 30, state_dict=None):
    """A small regression trained with `optimizer_name`; returns (losses, optimizer, model)."""
    torch.manual_seed(0)
    model = torch.nn.Sequential(torch.nn.Linear(64, 128), torch.nn.Tanh(), torch.nn.Linear(128, 8))
    x, y = torch.randn(256, 64), torch.randn(256, 8)
    optimizer = make_optimizer(model, replace(OptimArgs(), optimizer=optimizer_name, lr=3e-3), CPU)
    losses = []
    for _ in range(steps):
        loss = torch.nn.functional.mse_loss(model(x), y)
        loss.backward()
        optimizer.step()
        optimizer.zero_grad(set_to_none=True)
        losses.append(loss.item())
    return losses, optimizer, model


def test_adamw8bit_keeps_8bit_moments_and_trains_like_adamw():
    pytest.importorskip("bitsandbytes")
    losses8, opt8, model = _fit("adamw8bit")
    losses32, opt32, model32 = _fit("adamw")
    big = model[0].weight  # 8,192 elements: above bitsandbytes' 4,096 threshold for 8-bit state
    state = opt8.state[big]
    assert state["state1"].dtype == state["state2"].dtype == torch.uint8
    moment_bytes = sum(t.numel() * t.element_size() for k, t in state.items() if k in ("state1", "state2"))
    full_bytes = sum(t.numel() * t.element_size() for k, t in opt32.state[model32[0].weight].items()
                     if k in ("exp_avg", "exp_avg_sq"))
    assert moment_bytes * 4 == full_bytes  # the mechanism: a quarter of AdamW's moment memory
    assert losses8[-1] < 0.8 * losses8[0]  # it trains ...
    assert abs(losses8[-1] - losses32[-1]) < 0.05 * losses32[-1]  # ... like AdamW (8-bit rounding: within 5%)


def test_adamw8bit_state_survives_a_checkpoint():
    """Resume: a state dict saved and loaded into a fresh optimiser gives the same next step."""
    pytest.importorskip("bitsandbytes")
    _, opt, model = _fit("adamw8bit", steps=5)
    fresh = make_optimizer(model, replace(OptimArgs(), optimizer="adamw8bit", lr=3e-3), CPU)
    fresh.load_state_dict(opt.state_dict())
    grads = [torch.randn_like(p) for p in model.parameters()]
    before = [p.detach().clone() for p in model.parameters()]
    results = []
    for o in (opt, fresh):
        with torch.no_grad():
            for p, b in zip(model.parameters(), before):
                p.copy_(b)
        for p, g in zip(model.parameters(), grads):
            p.grad = g.clone()
        o.step()
        results.append([p.detach().clone() for p in model.parameters()])
    assert all(torch.equal(a, b) for a, b in zip(*results))
