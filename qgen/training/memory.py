"""A memory model of one training run: weights + gradients + optimiser state + activations, before running it.

Counted from the model's config on the meta device (no memory) and the lengths of the batch that pads longest (with
length grouping, the peak step). Activations are counted as the tensors autograd keeps per layer in fp32 (Korthikanti
et al. 2022's accounting, for CPU attention: SDPA keeps no score matrix, eager attention with dropout keeps two plus a
mask); logits as the log-softmax and its gradient over the rows the loss projects (qgen: target rows only for causal
models; HF: every row). The peak is weights + optimiser state + the larger of activations and gradients (gradients of
a step are freed before the next forward) + the interpreter and libraries (`baseline_mib`, measured by the caller).
"""

from __future__ import annotations

import torch

from qgen.models.lora import default_target_modules

MIB = 2**20
FP32 = 4
NF4_BYTES = 0.5 + 1 / 64 + 4 / (64 * 256)  # 4-bit codes + 8-bit absmax per 64 + fp32 second-level constants per 256 blocks


def _linear_shapes(model) -> dict[str, tuple[int, int]]:
    """name -> (in, out) of every linear layer (nn.Linear and GPT-2's Conv1D)."""
    out = {}
    for name, mod in model.named_modules():
        if isinstance(mod, torch.nn.Linear):
            out[name] = (mod.in_features, mod.out_features)
        elif type(mod).__name__ == "Conv1D":
            out[name] = tuple(mod.weight.shape)  # Conv1D stores (in, out)
    return out


def estimate(model_dir, spec: dict, lengths: list[tuple[int, int]], side: str = "qgen",
             baseline_mib: float = 0.0) -> dict:
    """Memory of training `spec` (a flat qgen config) on rows of (input tokens, target tokens); `side` "qgen" or "hf"
    (the HF Trainer: full logits, torch's attention). Returns parameters, trainable parameters, components in MiB."""
    import transformers as tf  # transformers (~1 s): only when a model is estimated

    config = model_dir if isinstance(model_dir, tf.PretrainedConfig) else tf.AutoConfig.from_pretrained(model_dir)
    seq2seq = bool(getattr(config, "is_encoder_decoder", False))
    cls = tf.AutoModelForSeq2SeqLM if seq2seq else tf.AutoModelForCausalLM
    with torch.device("meta"):
        model = cls.from_config(config)
    params = sum(p.numel() for p in model.parameters())
    linears = _linear_shapes(model)
    head = {n for n in linears if n.split(".")[-1] in ("lm_head", "embed_out")}
    r = int(spec.get("lora_r", 0))
    quant = spec.get("quantization", "none")
    if r:
        targets = spec.get("lora_target_modules") or default_target_modules(config)
        targets = [targets] if isinstance(targets, str) else targets
        lora = {n: s for n, s in linears.items() if n not in head and
                (targets == ["all-linear"] or n.split(".")[-1] in targets)}
        trainable = sum(r * (i + o) for i, o in lora.values())
    else:
        trainable = params
    if quant == "4bit":
        quantized = sum(i * o for n, (i, o) in linears.items() if n not in head)
        weights = quantized * NF4_BYTES + (params - quantized) * FP32
    elif quant == "8bit":
        quantized = sum(i * o for n, (i, o) in linears.items() if n not in head)
        weights = quantized * (1 + 4 / 4096) + (params - quantized) * FP32
    else:
        weights = params * FP32
    weights += trainable * FP32 if r else 0  # the LoRA matrices themselves
    grads = trainable * FP32
    optimizer = spec.get("optimizer", "adamw")
    if optimizer.endswith("adamw8bit"):  # two 8-bit moments, an fp32 scale per 256 (tensors under 4,096: fp32 moments)
        optim = 2 * trainable * (1 + FP32 / 256)
    else:
        optim = (2 if optimizer == "adamw" else 1) * trainable * FP32

    batch = int(spec.get("batch_size", 16))
    rows = sorted(lengths, key=lambda x: -x[0])[:batch]
    b = len(rows)
    t_in = max(x[0] for x in rows)
    t_out = max(x[1] for x in rows) if seq2seq else 0
    n_targets = sum(x[1] for x in rows)
    c = config
    h = getattr(c, "d_model", None) or getattr(c, "n_embd", None) or c.hidden_size
    heads = getattr(c, "num_heads", None) or getattr(c, "n_head", None) or c.num_attention_heads
    ff = getattr(c, "d_ff", None) or getattr(c, "n_inner", None) or getattr(c, "intermediate_size", None) or 4 * h
    layers = getattr(c, "num_layers", None) or getattr(c, "n_layer", None) or c.num_hidden_layers
    vocab = c.vocab_size
    gated = getattr(c, "model_type", "") == "llama"  # SwiGLU: gate, up and their product
    attn_drop = getattr(c, "attn_pdrop", 0.0) or getattr(c, "dropout_rate", 0.0) or getattr(c, "attention_dropout", 0.0)
    hid_drop = (getattr(c, "resid_pdrop", 0.0) or getattr(c, "dropout_rate", 0.0) or getattr(c, "hidden_dropout", 0.0))
    frozen = bool(r)  # frozen linear layers keep no input for a weight gradient

    def layer_elems(n_tok: int, cross: bool = False) -> float:
        per = (6 if frozen else 10) * h + ((3 if gated else 2) * ff if not frozen else (2 if gated else 1) * ff)
        if cross:
            per += (2 if frozen else 4) * h
        return n_tok * per + (n_tok * (3 * h) / FP32 if hid_drop else 0)  # dropout masks: one byte an element

    def scores(tq: int, tk: int) -> float:
        if attn_drop:  # eager attention (T5; GPT-2 with attention dropout): probabilities, dropped copy, byte mask
            return b * heads * tq * tk * (2 + 1 / FP32)
        return 0.0  # SDPA (flash attention on the CPU): output and log-sum-exp only, counted in the layer

    if seq2seq:
        act = layers * (layer_elems(b * t_in) + scores(t_in, t_in))
        dec_layers = getattr(c, "num_decoder_layers", None) or layers
        act += dec_layers * (layer_elems(b * t_out, cross=True) + scores(t_out, t_out) + scores(t_out, t_in))
        logit_rows = b * t_out
    else:
        per_layer = layer_elems(b * t_in) + scores(t_in, t_in)
        if spec.get("gradient_checkpointing"):  # each layer's input, and one layer recomputed at a time
            act = layers * b * t_in * h + per_layer
        else:
            act = layers * per_layer
        logit_rows = n_targets if side == "qgen" and spec.get("target_logits", True) else b * t_in
    half = spec.get("precision", "fp32") in ("bf16", "fp16")  # autocast: fp32 weights, 16-bit activations
    act = act * (2 if half else FP32)
    logits = 2 * logit_rows * vocab * FP32  # log-softmax output and its gradient (fp32 under autocast too)
    dequant = max((i * o for n, (i, o) in linears.items() if n not in head), default=0) * FP32 if quant != "none" else 0
    mib = {"libraries": baseline_mib, "weights": weights / MIB, "optimizer": optim / MIB, "gradients": grads / MIB,
           "activations": act / MIB, "logits": logits / MIB, "dequant": dequant / MIB}
    total = (baseline_mib + (weights + optim + max(act + logits + dequant, grads)) / MIB)
    return {"parameters": params, "trainable": trainable, "mib": mib, "total_mib": total,
            "peak_batch": {"rows": b, "input_tokens": t_in, "target_tokens": t_out or n_targets}}

