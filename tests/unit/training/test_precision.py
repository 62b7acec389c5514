"""qgen.training.precision: what `auto` picks on each device, autocast's dtype, the scaler only for fp16, the T5
feed-forward wrapper (counts and idempotence; its fp32 output on a real T5: test_train_loop.py), finite checks."""

import pytest
import torch

from qgen.training import precision

CPU, CUDA = torch.device("cpu"), torch.device("cuda")


@pytest.mark.parametrize("name", ["fp32", "bf16", "fp16"])
def test_an_explicit_precision_is_kept_on_any_device(name):
    assert precision.resolve(name, CPU) == precision.resolve(name, CUDA, "t5") == name


def test_auto_on_the_cpu_is_fp32():
    assert precision.resolve("auto", CPU) == precision.resolve("auto", CPU, "llama") == "fp32"


@pytest.mark.parametrize("bf16, model_type, expected", [
    (True, "t5", "bf16"), (True, "llama", "bf16"),
    (False, "t5", "fp32"), (False, "mt5", "fp32"), (False, "umt5", "fp32"),  # T5 overflows in fp16
    (False, "llama", "fp16"), (False, "", "fp16"),
])
def test_auto_on_a_gpu(monkeypatch, bf16, model_type, expected):
    monkeypatch.setattr(torch.cuda, "is_bf16_supported", lambda *a, **k: bf16)
    assert precision.resolve("auto", CUDA, model_type) == expected


def test_unknown_precision_is_refused_with_the_choices():
    with pytest.raises(ValueError, match="unknown precision 'fp8'") as e:
        precision.resolve("fp8", CPU)
    assert all(p in str(e.value) for p in precision.PRECISIONS)


def test_autocast_dtype():
    a, b = torch.ones(2, 2), torch.ones(2, 2)
    with precision.autocast("fp32", CPU):
        assert (a @ b).dtype == torch.float32
    with precision.autocast("bf16", CPU):
        assert (a @ b).dtype == torch.bfloat16


@pytest.mark.parametrize("name, enabled", [("fp32", False), ("bf16", False), ("fp16", True)])
def test_grad_scaler_only_for_fp16(name, enabled):
    assert precision.make_scaler(name, CPU).is_enabled() is enabled


class T5DenseActDense(torch.nn.Module):  # the class name is what keep_t5_ffn_in_fp32 looks for
    def __init__(self):
        super().__init__()
        self.wi, self.wo = torch.nn.Linear(2, 2), torch.nn.Linear(2, 2)


def test_t5_feed_forward_wrapped_once_and_nothing_else():
    model = torch.nn.Sequential(T5DenseActDense(), torch.nn.Linear(2, 2), T5DenseActDense())
    assert precision.keep_t5_ffn_in_fp32(model, CPU) == 2
    wrapped = [vars(model[0].wo)["forward"], vars(model[2].wo)["forward"]]  # an instance attribute replaces forward
    assert precision.keep_t5_ffn_in_fp32(model, CPU) == 2  # counted again, not wrapped twice
    assert [vars(model[0].wo)["forward"], vars(model[2].wo)["forward"]] == wrapped
    assert "forward" not in vars(model[1]) and "forward" not in vars(model[0].wi)
    with precision.autocast("bf16", CPU):
        x = torch.ones(1, 2)
        assert (model[0].wi(x).dtype, model[0].wo(x.bfloat16()).dtype) == (torch.bfloat16, torch.float32)


def test_weights_finite():
    model = torch.nn.Linear(2, 2)
    model.register_buffer("steps", torch.tensor([7]))  # an integer buffer is not a weight
    assert precision.weights_finite(model)
    for bad in (float("inf"), float("-inf"), float("nan")):
        with torch.no_grad():
            model.weight[1, 0] = bad
        assert not precision.weights_finite(model)
