"""qgen.training.memory: the memory model bench/real_size.py puts beside measured peaks (its mechanisms, on configs)."""

import pytest
import transformers as tf

from qgen.training import memory


@pytest.fixture(scope="module")
def neox(tmp_path_factory):
    path = tmp_path_factory.mktemp("neox")
    tf.GPTNeoXConfig(vocab_size=1000, hidden_size=64, intermediate_size=256, num_hidden_layers=2,
                     num_attention_heads=4).save_pretrained(path)
    return path


ROWS = [(100, 20)] * 8


def test_full_fine_tuning_counts_weights_gradients_and_adam_state(neox):
    est = memory.estimate(neox, {"batch_size": 8}, ROWS)
    p = est["parameters"]
    assert est["trainable"] == p
    mib = est["mib"]
    assert mib["weights"] == mib["gradients"] == p * 4 / 2**20
    assert mib["optimizer"] == 2 * mib["weights"]  # AdamW: exp_avg and exp_avg_sq
    assert est["total_mib"] == pytest.approx(
        mib["weights"] + mib["optimizer"] + max(mib["activations"] + mib["logits"] + mib["dequant"], mib["gradients"]))


def test_lora_and_4bit_shrink_what_is_trained_and_stored(neox):
    full = memory.estimate(neox, {"batch_size": 8}, ROWS)
    qlora = memory.estimate(neox, {"batch_size": 8, "lora_r": 8, "lora_target_modules": ["query_key_value"],
                                   "quantization": "4bit"}, ROWS)
    assert qlora["trainable"] == 2 * 8 * (64 + 192)  # two layers, r x (in + out) of each query_key_value
    assert qlora["mib"]["optimizer"] == 2 * qlora["trainable"] * 4 / 2**20
    quantized = 2 * (64 * 192 + 64 * 64 + 2 * 64 * 256)  # the layers' linear weights (embed_out is kept)
    assert qlora["mib"]["weights"] * 2**20 == pytest.approx(
        full["mib"]["weights"] * 2**20 - quantized * (4 - memory.NF4_BYTES) + qlora["trainable"] * 4)
    assert qlora["mib"]["activations"] < full["mib"]["activations"]  # frozen layers keep no matmul inputs


def test_target_logits_and_checkpointing(neox):
    spec = {"batch_size": 8}
    qgen = memory.estimate(neox, spec, ROWS, side="qgen")
    hf = memory.estimate(neox, spec, ROWS, side="hf")
    # qgen projects only the 20 target positions of each row onto the vocabulary, HF all 100
    assert hf["mib"]["logits"] == pytest.approx(5 * qgen["mib"]["logits"])
    ckpt = memory.estimate(neox, {**spec, "gradient_checkpointing": True}, ROWS)
    assert ckpt["mib"]["activations"] < qgen["mib"]["activations"]
    twice = memory.estimate(neox, {"batch_size": 16}, ROWS * 2)
    # linear in the batch, but for a few batch-independent saved tensors (rotary tables)
    assert twice["mib"]["activations"] == pytest.approx(2 * qgen["mib"]["activations"], rel=1e-3)


def test_meta_trace_equals_the_tensors_a_real_forward_saves(neox):
    """The activations are traced on the meta device; a real CPU forward of the same model saves the same bytes."""
    import torch

    config = tf.AutoConfig.from_pretrained(neox)
    traced = memory.saved_bytes(config, tf.AutoModelForCausalLM, 4, 50, 0)["activations"]
    torch.manual_seed(0)
    model = tf.AutoModelForCausalLM.from_config(config, dtype=torch.float32).train()
    seen = {}

    def pack(t):
        seen.setdefault(t.untyped_storage().data_ptr(), (t.untyped_storage().nbytes(), t.dim() > 0 and t.shape[-1] == 1000))
        return t

    ids = torch.randint(0, 1000, (4, 50))
    with torch.autograd.graph.saved_tensors_hooks(pack, lambda t: t):
        model(input_ids=ids, labels=ids)
    params = {p.untyped_storage().data_ptr() for p in model.parameters()}
    real = sum(n for k, (n, logits) in seen.items() if k not in params and not logits)
    assert traced == pytest.approx(real, rel=0.05)  # the same ops; SDPA's CPU kernel may keep a different workspace
