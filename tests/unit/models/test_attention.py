"""qgen's training attention (qgen.models.attention) is transformers' T5 / GPT-2 attention: the same outputs,
gradients and generations, with masks (padding, causal, cache) respected; it is not saved with a checkpoint."""

import json

import torch
from helpers.greedy import KERNEL_TOL, assert_greedy_under, until_stop
from transformers import (
    GPT2Config,
    GPT2LMHeadModel,
    GPTNeoXConfig,
    GPTNeoXForCausalLM,
    T5Config,
    T5ForConditionalGeneration,
)

from qgen.models import attention as qa


def _t5(dropout_rate=0.0):
    torch.manual_seed(0)
    return T5ForConditionalGeneration(T5Config(vocab_size=120, d_model=32, d_kv=8, d_ff=64, num_layers=2,
                                               num_decoder_layers=2, num_heads=4, dropout_rate=dropout_rate,
                                               decoder_start_token_id=0, pad_token_id=0, eos_token_id=1))


def _batch():
    torch.manual_seed(1)
    ids = torch.randint(2, 120, (4, 15))
    mask = torch.ones_like(ids)
    mask[1, 11:] = mask[2, 6:] = mask[3, 2:] = 0  # padding of several lengths
    return ids, mask, torch.randint(2, 120, (4, 7))


def _loss_and_grads(model):
    ids, mask, labels = _batch()
    out = model(input_ids=ids, attention_mask=mask, labels=labels)
    out.loss.backward()
    return out.logits.detach(), {n: p.grad for n, p in model.named_parameters()}


def test_outputs_and_gradients_equal_transformers_attention():
    reference, switched = _t5().train(), _t5().train()  # train mode, dropout 0: the training path, deterministic
    assert qa.use_qgen_attention(switched) and switched.config._attn_implementation == qa.NAME
    assert reference.config._attn_implementation != qa.NAME
    (logits_a, grads_a), (logits_b, grads_b) = _loss_and_grads(reference), _loss_and_grads(switched)
    # float32 sums in another order (bias added inside the GEMM): 1e-6 relative here
    torch.testing.assert_close(logits_b, logits_a, rtol=1e-5, atol=1e-5)
    for name, grad in grads_a.items():
        torch.testing.assert_close(grads_b[name], grad, rtol=1e-4, atol=1e-6)


def test_padding_and_the_causal_mask_are_kept():
    model = _t5().eval()
    qa.use_qgen_attention(model)
    ids, mask, labels = _batch()
    with torch.no_grad():
        base = model(input_ids=ids, attention_mask=mask, labels=labels).logits
        padded = ids.clone()
        padded[mask == 0] = 7  # other tokens under the padding: nothing may change
        future = labels.clone()
        future[:, 4:] = 9  # other later target tokens: the logits up to position 4 may not change
        torch.testing.assert_close(model(input_ids=padded, attention_mask=mask, labels=labels).logits, base)
        later = model(input_ids=ids, attention_mask=mask, labels=future).logits
    torch.testing.assert_close(later[:, :5], base[:, :5])
    assert not torch.allclose(later[:, 5:], base[:, 5:])


def test_generation_with_the_cache_is_unchanged():
    reference, switched = _t5().eval(), _t5().eval()
    qa.use_qgen_attention(switched)
    ids, mask, _ = _batch()
    b = switched.generate(input_ids=ids, attention_mask=mask, max_new_tokens=8, do_sample=False)
    stops = (switched.generation_config.eos_token_id, switched.config.pad_token_id)
    for row, keep, out in zip(ids, mask.bool(), b):
        # the switched model's cached greedy decode (a padded batch) is the reference's greedy choice at every step
        # for the prompt alone, up to a rounding near-tie (helpers.greedy.KERNEL_TOL): not argmax chains compared
        assert_greedy_under(reference, row[keep].tolist(), until_stop(out[1:].tolist(), stops), seq2seq=True,
                            tol=KERNEL_TOL, stop_ids=stops, max_new_tokens=8)


def test_attention_dropout_is_applied_in_training_only():
    model = _t5(dropout_rate=0.5)
    qa.use_qgen_attention(model)
    attention = model.encoder.block[0].layer[0].SelfAttention
    q, k, v = (torch.randn(2, 4, 6, 8) for _ in range(3))
    bias = torch.randn(1, 4, 6, 6)
    expected = torch.softmax(q @ k.transpose(-1, -2) + bias, dim=-1)
    attention.eval()
    out, probs = qa.attention(attention, q, k, v, None, scaling=1.0, dropout=0.5, position_bias=bias)
    torch.testing.assert_close(probs, expected)
    torch.testing.assert_close(out, (expected @ v).transpose(1, 2))
    attention.train()
    torch.manual_seed(3)
    _, dropped = qa.attention(attention, q, k, v, None, scaling=1.0, dropout=0.5, position_bias=bias)
    kept = dropped != 0
    assert 0.3 < kept.double().mean() < 0.7
    torch.testing.assert_close(dropped[kept], 2 * expected[kept])


def _gpt2(attn_pdrop):
    torch.manual_seed(0)
    return GPT2LMHeadModel(GPT2Config(vocab_size=120, n_embd=32, n_layer=2, n_head=4, n_positions=64,
                                      attn_pdrop=attn_pdrop, resid_pdrop=0.0, embd_pdrop=0.0))


def test_gpt2_with_attention_dropout_gets_it_with_the_same_outputs_and_gradients():
    reference, switched = _gpt2(0.0).train(), _gpt2(0.1).train()
    assert qa.use_qgen_attention(switched) and switched.config._attn_implementation == qa.NAME
    for block in switched.transformer.h:  # dropout off for the comparison: the same function, deterministic
        block.attn.attn_dropout.p = 0.0
    ids, mask, _ = _batch()
    outs = []
    for model in (reference, switched):
        out = model(input_ids=ids, attention_mask=mask, labels=ids)
        out.loss.backward()
        outs.append((out.logits.detach(), {n: p.grad for n, p in model.named_parameters()}))
    torch.testing.assert_close(outs[1][0], outs[0][0], rtol=1e-5, atol=1e-5)
    for name, grad in outs[0][1].items():
        torch.testing.assert_close(outs[1][1][name], grad, rtol=1e-4, atol=1e-6)
    b = switched.eval().generate(input_ids=ids[:1], max_new_tokens=6, do_sample=False)
    prompt = ids[0].tolist()
    assert_greedy_under(reference.eval(), prompt, b[0, len(prompt):].tolist(), seq2seq=False, tol=KERNEL_TOL)


def test_other_models_are_left_alone_and_checkpoints_do_not_record_it(tmp_path):
    gpt2 = _gpt2(0.0)  # no attention dropout: SDPA's fused kernel stays
    before = gpt2.config._attn_implementation
    assert not qa.use_qgen_attention(gpt2) and gpt2.config._attn_implementation == before
    neox = GPTNeoXForCausalLM(GPTNeoXConfig(vocab_size=120, hidden_size=32, num_hidden_layers=1,
                                            num_attention_heads=4, intermediate_size=64, attention_dropout=0.1))
    assert not qa.use_qgen_attention(neox) and neox.config._attn_implementation != qa.NAME
    model = _t5()
    qa.use_qgen_attention(model)
    model.save_pretrained(tmp_path)
    assert qa.NAME not in (tmp_path / "config.json").read_text()
    assert "attn" not in "".join(json.loads((tmp_path / "config.json").read_text()))
    assert T5ForConditionalGeneration.from_pretrained(tmp_path).config._attn_implementation != qa.NAME
