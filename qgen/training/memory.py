"""A memory model of one training run: weights + gradients + optimiser state + activations, before running it.

Counted from the model's config on the meta device (no memory) and the lengths of the batch that pads longest (with
length grouping, the peak step). Activations are the bytes of the tensors autograd saves for the backward, traced
(saved_tensors_hooks) through a forward of the real architecture at that batch's shape on the meta device, LoRA and
gradient checkpointing applied (checkpointing: the saved layer inputs plus one layer recomputed); the logits apart, as
the log-softmax and its gradient over the rows the loss projects (qgen: target rows only; HF: every row). The peak is weights + optimiser state + the larger of activations and gradients (gradients of
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
    traced = saved_bytes(config, cls, b, t_in, t_out, r, spec.get("lora_target_modules"),
                         bool(spec.get("gradient_checkpointing")))
    act = traced["activations"]
    if seq2seq:  # qgen projects only the decoder's target rows (qgen.training.forward), HF every padded row
        logit_rows = n_targets if side == "qgen" else b * t_out
    else:
        logit_rows = n_targets if side == "qgen" and spec.get("target_logits", True) else b * t_in
    vocab = config.vocab_size
    half = spec.get("precision", "fp32") in ("bf16", "fp16")  # autocast: fp32 weights, 16-bit activations
    act = act / 2 if half else act
    logits = 2 * logit_rows * vocab * FP32  # log-softmax output and its gradient (fp32 under autocast too)
    dequant = max((i * o for n, (i, o) in linears.items() if n not in head), default=0) * FP32 if quant != "none" else 0
    mib = {"libraries": baseline_mib, "weights": weights / MIB, "optimizer": optim / MIB, "gradients": grads / MIB,
           "activations": act / MIB, "logits": logits / MIB, "dequant": dequant / MIB}
    total = (baseline_mib + (weights + optim + max(act + logits + dequant, grads)) / MIB)
    return {"parameters": params, "trainable": trainable, "mib": mib, "total_mib": total,
            "peak_batch": {"rows": b, "input_tokens": t_in, "target_tokens": t_out or n_targets}}



def saved_bytes(config, cls, b: int, t_in: int, t_out: int, lora_r: int = 0, targets=None,
                checkpointing: bool = False) -> dict:
    """Bytes autograd saves in one fp32 training forward of `cls(config)` on a (b, t_in) batch (targets (b, t_out) for
    an encoder-decoder), the logits' own tensors left out: traced on the meta device, so any size costs nothing."""
    if checkpointing:  # the checkpoints, then one layer's own activations while it is recomputed
        one = config.__class__.from_dict({**config.to_dict(), **_one_layer(config)})
        single = saved_bytes(one, cls, b, t_in, t_out, lora_r, targets, False)["activations"]
        checkpoint_bytes = _layers(config) * b * (t_in + t_out) * _hidden(config) * FP32
        return {"activations": checkpoint_bytes + single}
    with torch.device("meta"):
        model = cls.from_config(config, dtype=torch.float32).train()
    if lora_r:
        import peft  # peft: only for a LoRA estimate

        model.requires_grad_(False)
        model = peft.get_peft_model(model, peft.LoraConfig(
            r=lora_r, target_modules=targets or default_target_modules(config), lora_dropout=0.05))
    seen: dict[int, tuple[int, bool]] = {}
    vocab = config.vocab_size

    def pack(t):
        store = t.untyped_storage()
        seen.setdefault(store._cdata, (store.nbytes(), t.dim() > 0 and t.shape[-1] == vocab))
        return t

    ids = torch.zeros(b, t_in, dtype=torch.long, device="meta")
    inputs = {"input_ids": ids, "labels": torch.zeros(b, t_out, dtype=torch.long, device="meta") if t_out else ids}
    sdpa = torch.nn.functional.scaled_dot_product_attention
    torch.nn.functional.scaled_dot_product_attention = _cpu_sdpa(sdpa)  # what the CPU runs, not the meta fallback
    try:
        with torch.autograd.graph.saved_tensors_hooks(pack, lambda t: t):
            model(**inputs)
    finally:
        torch.nn.functional.scaled_dot_product_attention = sdpa
    params = {p.untyped_storage()._cdata for p in model.parameters()}
    act = sum(n for k, (n, is_logits) in seen.items() if k not in params and not is_logits)
    return {"activations": act}


def _cpu_sdpa(math_sdpa):
    """SDPA as the CPU runs it: the flash kernel (saves q, k, v, the output and a log-sum-exp, no score matrix) unless
    there is dropout or a mask that needs a gradient (T5's position bias), which take the math path; on the meta
    device SDPA would always dispatch to the math path, which saves the full attention matrix."""

    def sdpa(q, k, v, attn_mask=None, dropout_p=0.0, is_causal=False, scale=None, enable_gqa=False):
        if dropout_p or (attn_mask is not None and attn_mask.requires_grad):
            return math_sdpa(q, k, v, attn_mask=attn_mask, dropout_p=dropout_p, is_causal=is_causal, scale=scale,
                             enable_gqa=enable_gqa)
        if enable_gqa and k.shape[1] != q.shape[1]:
            k = k.repeat_interleave(q.shape[1] // k.shape[1], dim=1)
            v = v.repeat_interleave(q.shape[1] // v.shape[1], dim=1)
        return torch.ops.aten._scaled_dot_product_flash_attention_for_cpu(q, k, v, dropout_p, is_causal,
                                                                          attn_mask=attn_mask, scale=scale)[0]

    return sdpa


def _layers(config) -> int:
    return getattr(config, "num_layers", None) or getattr(config, "n_layer", None) or config.num_hidden_layers


def _hidden(config) -> int:
    return getattr(config, "d_model", None) or getattr(config, "n_embd", None) or config.hidden_size


def _one_layer(config) -> dict:
    if config.model_type == "t5":
        return {"num_layers": 1, "num_decoder_layers": 1}
    return {"n_layer": 1} if config.model_type == "gpt2" else {"num_hidden_layers": 1}
