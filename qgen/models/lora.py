"""LoRA / QLoRA with peft: quantised loading options, k-bit preparation, checkpointing, LoRA wrapping, adapter loading.

The loop never sees any of this: it gets an `nn.Module` whose trainable parameters are the LoRA matrices (plus the
rows of any added special tokens) and saves it with `save_pretrained`, which for a `PeftModel` writes an adapter
directory that `peft.PeftModel.from_pretrained(base, dir)` loads. Default target modules come from peft's own
per-architecture table (T5 `q,v`; GPT-2 `c_attn`; GPT-NeoX `query_key_value`; Llama `q_proj,v_proj` …), else
`all-linear`. Gradient checkpointing is always non-reentrant: with reentrant checkpointing and frozen embeddings no
checkpointed input requires grad, so LoRA weights inside the checkpointed blocks silently get no gradient. What to do
comes in a `LoraSpec` (qgen.models.lora_spec), checked when it was built.
"""

from __future__ import annotations

import json
import logging
import warnings
from pathlib import Path
from typing import Any

import torch

from qgen.core.errors import QgenInputError
from qgen.models.dtypes import DTYPES, gpu_half
from qgen.models.formats import special_tokens
from qgen.models.loading import float_tensors, load_config, load_model, load_tokenizer, model_kind
from qgen.models.lora_spec import LoraSpec

log = logging.getLogger(__name__)

ADAPTER_CONFIG = "adapter_config.json"


def default_target_modules(config: Any) -> list[str] | str:
    """peft's per-architecture LoRA targets for `config.model_type`, else every linear layer."""
    from peft.utils.constants import TRANSFORMERS_MODELS_TO_LORA_TARGET_MODULES_MAPPING as TABLE  # peft: only with LoRA

    targets = TABLE.get(getattr(config, "model_type", None))
    return list(targets) if targets else "all-linear"


def is_quantized(model: Any) -> bool:
    """Loaded in 4 or 8 bits by bitsandbytes: such weights train only through LoRA, and FSDP cannot shard them."""
    return bool(getattr(model, "is_loaded_in_4bit", False) or getattr(model, "is_loaded_in_8bit", False))


def is_peft_model(model: Any) -> bool:
    """Wrapped by peft: its `save_pretrained` writes an adapter directory, not a whole model."""
    from peft import PeftModel  # peft: only with LoRA

    return isinstance(model, PeftModel)


def is_adapter_dir(path: str | Path) -> bool:
    """A LoRA adapter directory (a LoRA run's checkpoint): loaded over its base model, not on its own."""
    return (Path(path) / ADAPTER_CONFIG).is_file()


def compute_dtype(spec: LoraSpec) -> torch.dtype:
    """4-bit compute dtype: as asked, else bf16/fp16 on CUDA and fp32 on the CPU (bitsandbytes' fast kernels)."""
    if spec.compute_dtype == "auto":
        return gpu_half() if torch.cuda.is_available() else torch.float32
    return DTYPES[spec.compute_dtype]


def quantization_kwargs(spec: LoraSpec, device: str | None = None) -> dict[str, Any]:
    """`from_pretrained` keyword arguments for 4-bit NF4 / 8-bit bitsandbytes loading ({} when not quantising).

    bitsandbytes places weights at load time, on `device` (under torchrun: each rank's own GPU); None: the first GPU
    when there is one, else the CPU."""
    q = spec.quantization
    if q == "none":
        return {}
    try:
        import bitsandbytes  # noqa: F401
    except ImportError:
        raise QgenInputError("--quantization needs bitsandbytes (pip install bitsandbytes)", field="quantization") from None
    from transformers import BitsAndBytesConfig  # only with --quantization

    if q == "4bit":
        qc = BitsAndBytesConfig(load_in_4bit=True, bnb_4bit_quant_type="nf4",
                                bnb_4bit_use_double_quant=spec.double_quant, bnb_4bit_compute_dtype=compute_dtype(spec))
    else:
        qc = BitsAndBytesConfig(load_in_8bit=True)
    if device is None:
        device = "cuda:0" if torch.cuda.is_available() else "cpu"
    return {"quantization_config": qc, "device_map": {"": device}}


def enable_gradient_checkpointing(model: Any) -> None:
    """Non-reentrant activation checkpointing, inputs requiring grad, no KV cache (pointless and unsupported)."""
    kwargs = {"use_reentrant": False}
    if hasattr(model, "activation_checkpointing_enable"):  # transformers >= 5.x name; the old one is deprecated
        model.activation_checkpointing_enable(activation_checkpointing_kwargs=kwargs)
    else:
        model.gradient_checkpointing_enable(gradient_checkpointing_kwargs=kwargs)
    model.enable_input_require_grads()
    model.config.use_cache = False


def add_special_tokens(model: Any, tokenizer: Any, tokens: list[str]) -> list[int]:
    """Add `tokens` to the tokenizer as special tokens and grow the embeddings to fit; returns their ids."""
    ids = special_tokens.add_special_tokens(tokenizer, tokens)
    special_tokens.resize_embeddings(model, tokenizer)
    return ids


def _embedding_names(model: Any) -> tuple[str, str | None]:
    """Module names of the input embeddings and, when not tied to them, of the output layer."""
    names = {id(m): n for n, m in model.named_modules()}
    emb, out = model.get_input_embeddings(), model.get_output_embeddings()
    tied = out is None or out.weight is emb.weight
    return names[id(emb)], (None if tied else names.get(id(out)))


def trainable_token_indices(model: Any, token_ids: list[int]) -> dict[str, list[int]] | None:
    """peft's `trainable_token_indices` for the added tokens: their embedding rows, and output rows when untied."""
    if not token_ids:
        return None
    emb, out = _embedding_names(model)
    ids = sorted(set(token_ids))
    return {emb: ids, **({out: ids} if out else {})}


def lora_config(model: Any, spec: LoraSpec, token_ids: list[int] | None = None) -> Any:
    """peft's LoraConfig for `model` as `spec` says; `token_ids`: rows of the embeddings that train too."""
    from peft import LoraConfig, TaskType  # peft: only with LoRA

    task = TaskType.SEQ_2_SEQ_LM if getattr(model.config, "is_encoder_decoder", False) else TaskType.CAUSAL_LM
    return LoraConfig(
        r=spec.lora_r, lora_alpha=spec.lora_alpha, lora_dropout=spec.lora_dropout, task_type=task,
        target_modules=_targets(spec.lora_target_modules) or default_target_modules(model.config),
        trainable_token_indices=trainable_token_indices(model, token_ids or []),
    )


def _targets(modules: tuple[str, ...]) -> list[str] | str:
    """The modules as peft takes them: `[all-linear]` is peft's "all-linear" (every linear layer but the output)."""
    return "all-linear" if list(modules) == ["all-linear"] else list(modules)


def _added_ids(tokenizer: Any, spec: LoraSpec) -> list[int]:
    tokens = list(spec.added_tokens)
    return list(tokenizer.convert_tokens_to_ids(tokens)) if tokens and tokenizer is not None else []


def keep_cpu_4bit_trainable(model: Any) -> int:
    """Stop bitsandbytes repacking 4-bit weights for its CPU inference kernel; returns how many layers.

    bitsandbytes 0.50 on AVX512-BF16 CPUs repacks a Linear4bit's weight the first time it runs in eval mode without
    grad (validation), and from then on that layer passes no gradient to its input even in training: every LoRA
    matrix below it silently stops learning. Training keeps the ordinary (dequantising) path instead.
    """
    try:
        import bitsandbytes as bnb  # only with --quantization
    except ImportError:
        return 0
    layers = [m for m in model.modules() if isinstance(m, bnb.nn.Linear4bit)]
    for m in layers:
        if getattr(m.weight, "quant_state", None) is not None and getattr(m.weight.quant_state, "packing_format_for_cpu", False):
            raise RuntimeError("4-bit weights were already repacked for CPU inference; load the model again to train")
        m.support_avx512bf16_for_cpu = False
    return len(layers)


def _prepare_base(model: Any, spec: LoraSpec) -> None:
    if is_quantized(model):
        from peft import prepare_model_for_kbit_training  # peft: only with LoRA

        keep_cpu_4bit_trainable(model)

        # freezes the base, upcasts norms to fp32, and (if asked) turns on non-reentrant checkpointing
        prepare_model_for_kbit_training(model, use_gradient_checkpointing=spec.gradient_checkpointing,
                                        gradient_checkpointing_kwargs={"use_reentrant": False})
    if spec.gradient_checkpointing:
        enable_gradient_checkpointing(model)


def apply_peft(model: Any, spec: LoraSpec, tokenizer: Any = None) -> Any:
    """Wrap `model` for training as `spec` says: k-bit preparation, checkpointing, then LoRA (when lora_r > 0).

    With `tokenizer`, the ids of `spec.added_tokens` become trainable rows (peft `trainable_token_indices`): a new
    `<hl>` must learn an embedding even though the rest of the matrix stays frozen.
    """
    _prepare_base(model, spec)
    if spec.lora_r <= 0:
        return model
    from peft import get_peft_model  # peft: only with LoRA

    config = lora_config(model, spec, _added_ids(tokenizer, spec))
    try:
        peft_model = get_peft_model(model, config)
    except ValueError as e:
        if "not found in the base model" not in str(e) and "Target module" not in str(e):
            raise
        linear = sorted({n.rsplit(".", 1)[-1] for n, m in model.named_modules() if _is_linear(m)})
        raise QgenInputError(f"{e}; linear layers of this model: {', '.join(linear)}", field="lora_target_modules") from None
    n_train = sum(p.numel() for p in peft_model.parameters() if p.requires_grad)
    n_all = sum(p.numel() for p in peft_model.parameters())
    log.info("LoRA r=%d on %s: %d trainable of %d parameters (%.2f%%)", spec.lora_r, sorted(config.target_modules)
             if not isinstance(config.target_modules, str) else config.target_modules, n_train, n_all, 100 * n_train / n_all)
    return peft_model


def _is_linear(module: torch.nn.Module) -> bool:
    from transformers.pytorch_utils import Conv1D  # transformers: with LoRA, at target search

    return isinstance(module, (torch.nn.Linear, Conv1D)) or type(module).__name__ in ("Linear4bit", "Linear8bitLt")


def load_adapter_for_training(model: Any, adapter_dir: str | Path, spec: LoraSpec) -> Any:
    """Resume: the base prepared as in `apply_peft`, then the saved adapter weights, trainable again."""
    _prepare_base(model, spec)
    return _with_adapter(model, adapter_dir, is_trainable=True)


def _with_adapter(model: Any, adapter_dir: str | Path, is_trainable: bool) -> Any:
    """`model` with the saved adapter loaded; an adapter that leaves LoRA weights of the model unset (peft only
    warns: they would stay as initialised) or holds non-finite values is a QgenInputError naming the directory."""
    from peft import PeftModel  # peft: only with LoRA

    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        model = PeftModel.from_pretrained(model, str(adapter_dir), is_trainable=is_trainable)
    for w in caught:
        text = str(w.message)
        if "missing adapter keys" in text:
            keys = text.split(":", 1)[-1].strip().strip(".")[:300]
            raise QgenInputError(f"adapter weights do not fit the base model (missing: {keys})", path=adapter_dir)
        warnings.warn_explicit(w.message, w.category, w.filename, w.lineno)
    bad = next((name for name, t in float_tensors(model) if "lora_" in name and not bool(t.isfinite().all())), None)
    if bad is not None:
        raise QgenInputError(f"weight {bad} holds NaN or infinite values", path=adapter_dir)
    return model


def adapter_base(adapter_dir: str | Path) -> tuple[str, str]:
    """(base model name/path, "seq2seq" | "causal") recorded in an adapter directory."""
    path = Path(adapter_dir) / ADAPTER_CONFIG
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, json.JSONDecodeError) as e:
        raise QgenInputError(f"unreadable LoRA adapter config: {e}", path=path) from None
    base = data.get("base_model_name_or_path")
    if not base:
        raise QgenInputError("no base model recorded", path=path, field="base_model_name_or_path")
    kind = {"SEQ_2_SEQ_LM": "seq2seq", "CAUSAL_LM": "causal"}.get(data.get("task_type"))
    if kind is None:
        kind = model_kind(load_config(base))
    return base, kind


def load_adapter_model(adapter_dir: str | Path, base: str | None = None, merge: bool = False,
                       **load_kwargs: Any) -> tuple[Any, Any]:
    """(model, tokenizer) from an adapter directory: base weights (grown to the saved tokenizer) + adapter, eval mode.

    `base` overrides the recorded base model (e.g. it was moved); `merge=True` returns a plain merged model.
    """
    recorded, kind = adapter_base(adapter_dir)
    tokenizer = load_tokenizer(str(adapter_dir), load_kwargs.get("trust_remote_code") is True)
    model = load_model(base or recorded, kind, **load_kwargs)
    special_tokens.resize_embeddings(model, tokenizer)
    model = _with_adapter(model, adapter_dir, is_trainable=False)
    if merge:
        model = model.merge_and_unload()
    model.eval()
    return model, tokenizer
