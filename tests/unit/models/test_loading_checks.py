"""qgen.models.loading.check_loaded: what a load may leave over (issue 29). The end-to-end refusals (a renamed tensor,
an edited model_type, a NaN, through every command) are in tests/integration/reliability/test_silent_garbage.py."""

import pytest
import torch

from qgen.core.errors import QgenInputError
from qgen.models.loading import check_loaded


def _info(unexpected=(), missing=(), mismatched=()):
    return {"unexpected_keys": set(unexpected), "missing_keys": set(missing), "mismatched_keys": set(mismatched)}


def test_legacy_causal_mask_buffers_may_be_left_over():
    check_loaded("m", _info(unexpected=["transformer.h.0.attn.masked_bias", "transformer.h.0.attn.bias",
                                        "gpt_neox.layers.1.attention.bias"]), torch.nn.Linear(2, 2))


@pytest.mark.parametrize("info, says", [
    (_info(unexpected=["h.0.attn.c_attn.bias"]), "1 unused: h.0.attn.c_attn.bias"),
    (_info(missing=[f"w{i}" for i in range(5)]), "5 missing (randomly initialised): w0, w1, w2 …"),
    (_info(mismatched=[("lm_head.weight", (10, 4), (12, 4))]), "1 of another shape: lm_head.weight"),
])
def test_weights_left_over_missing_or_reshaped_are_refused(info, says):
    with pytest.raises(QgenInputError) as e:
        check_loaded("runs/x/best", info, torch.nn.Linear(2, 2))
    assert str(e.value).startswith("runs/x/best: weights do not fit") and says in str(e.value), str(e.value)


def test_a_non_finite_weight_is_named():
    model = torch.nn.Sequential(torch.nn.Linear(2, 2), torch.nn.Linear(2, 2))
    with torch.no_grad():
        model[1].bias[1] = float("inf")
    with pytest.raises(QgenInputError, match=r"^m: weight 1\.bias holds NaN or infinite values$"):
        check_loaded("m", _info(), model)
