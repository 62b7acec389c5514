"""The greedy check the generation tests use (tests/helpers/greedy.py) instead of comparing argmax chains (issue 29).

Built so that it must show: two computations of one function, 1e-5 apart at a near-tie, write different greedy text
(the old token-for-token comparison fails, as test_lora_adapter_dir did on other machines), while the check passes;
a real change of the function (a logit moved by 1.0) fails the check.
"""

import copy

import pytest
import torch
from helpers.greedy import KERNEL_TOL, assert_greedy_under, greedy_gaps
from transformers import T5Config, T5ForConditionalGeneration

PROMPT = [5, 6, 7, 8, 9, 1]


@pytest.fixture(scope="module")
def near_tie():
    """(model, twin, top, second): `twin` is `model` with its two best first tokens swapped by 2e-5 in logit."""
    torch.manual_seed(0)
    model = T5ForConditionalGeneration(T5Config(vocab_size=64, d_model=16, d_kv=4, d_ff=32, num_layers=1,
                                                num_heads=2, decoder_start_token_id=0, pad_token_id=0,
                                                eos_token_id=1)).eval()
    model.lm_head.weight = torch.nn.Parameter(model.lm_head.weight.detach().clone())  # untied: inputs stay as they are
    with torch.no_grad():
        first = model(input_ids=torch.tensor([PROMPT]), decoder_input_ids=torch.tensor([[0]])).logits[0, 0]
        top, second = first.topk(2).indices.tolist()
        step = 1e-5 / float(first[top])  # a relative change that moves the logit by 1e-5 (> float rounding here)
        head = model.lm_head.weight
        head[second] = head[top] * (1 - step)  # the runner-up now trails by 1e-5 of a logit: a near-tie
        twin = copy.deepcopy(model)
        twin.lm_head.weight[second] = head[top] * (1 + step)  # ... and leads by as much in the twin
    return model, twin, top, second


def greedy(model) -> list[int]:
    return model.generate(input_ids=torch.tensor([PROMPT]), max_new_tokens=6, do_sample=False)[0, 1:].tolist()


def test_rounding_sized_difference_changes_the_greedy_text_but_passes_the_check(near_tie):
    model, twin, top, second = near_tie
    a, b = greedy(model), greedy(twin)
    assert a[0] == top and b[0] == second and a != b  # an argmax-chain comparison would fail here
    assert_greedy_under(twin, PROMPT, a, seq2seq=True, tol=KERNEL_TOL)  # yet each token is a (near-)greedy choice
    assert_greedy_under(model, PROMPT, b, seq2seq=True, tol=KERNEL_TOL)


def test_a_real_change_fails_the_check(near_tie):
    model, _, top, _ = near_tie
    changed = copy.deepcopy(model)
    with torch.no_grad():
        changed.lm_head.weight[top] = 0.0  # the chosen first token's logit drops to 0, below many others
    assert float(greedy_gaps(changed, PROMPT, greedy(model), seq2seq=True)[0]) > 100 * KERNEL_TOL
    with pytest.raises(AssertionError, match="below the top logit"):
        assert_greedy_under(changed, PROMPT, greedy(model), seq2seq=True, tol=KERNEL_TOL)
