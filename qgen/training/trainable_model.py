"""Model + tokenizer + sequence format from a TrainConfig, in separate visible steps the PEFT/quantisation code plugs into.

Order: resolve the name (tiny-* built from the training texts) → tokenizer → (quantised) weights → special tokens
→ LoRA → gradient checkpointing → sequence format. Each step is one call (LoRA/QLoRA/special tokens live in qgen.models.lora) so they stay out of the loop.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch

from qgen.core.errors import QgenInputError
from qgen.models import lora as qpeft
from qgen.models.attention import use_qgen_attention
from qgen.models.dropout import use_gap_dropout
from qgen.models.formats.sequence import SequenceFormat, make_format
from qgen.models.loading import (
    check_positions,
    load_config,
    load_model,
    load_tokenizer,
    model_kind,
    resolve,
)
from qgen.models.lora_spec import LoraSpec
from qgen.models.tiny import is_tiny
from qgen.training.config import TrainConfig


@dataclass
class Loaded:
    """What the loop trains: the model (LoRA-wrapped as asked), its tokenizer and the format that encodes examples."""

    model: torch.nn.Module
    tokenizer: Any
    format: SequenceFormat
    kind: str
    path: str  # what the weights were loaded from


def load_kwargs(spec: LoraSpec) -> dict[str, Any]:
    """Extra from_pretrained arguments: the quantised (QLoRA) loading hook, onto this rank's own GPU under torchrun."""
    if spec.quantization == "none":
        return {}
    device = f"cuda:{int(os.environ.get('LOCAL_RANK', '0'))}" if torch.cuda.is_available() else "cpu"
    return qpeft.quantization_kwargs(spec, device)


def build(cfg: TrainConfig, texts: list[str] | None = None, output_dir: str | Path | None = None,
          weights_from: str | Path | None = None) -> Loaded:
    """Everything the loop needs; `weights_from` (e.g. `last/` on resume) overrides where weights + tokenizer come from."""
    m, spec = cfg.model, cfg.lora_spec()
    name = resolve(m.model, texts, Path(output_dir or ".") / "tiny") if is_tiny(m.model) else resolve(m.model)
    path = str(weights_from or name)
    # a LoRA run's last/ is an adapter directory: the weights come from the base, then the adapter (qgen.models.lora)
    adapter_dir = weights_from if weights_from is not None and qpeft.is_adapter_dir(weights_from) else None
    base = str(name) if adapter_dir is not None else path
    try:
        tokenizer = load_tokenizer(path, m.trust_remote_code)
        config = load_config(base, m.trust_remote_code)
        kind = model_kind(config)
        model = load_model(base, kind, m.trust_remote_code, **load_kwargs(spec))
    except QgenInputError:  # weights that do not fit the config, or not finite: named by load_model
        raise
    except (OSError, ValueError) as e:  # unknown name, hub unreachable offline, incomplete checkpoint directory
        raise QgenInputError(f"cannot load the model: {e}", path=base, field="model") from None
    check_positions(config, base, {"max_source_len": m.max_source_len, "max_target_len": m.max_target_len}
                    if kind == "seq2seq" else {"max_len": m.max_len})
    if m.add_special_tokens:
        qpeft.add_special_tokens(model, tokenizer, m.add_special_tokens)
    if adapter_dir is not None:
        model = qpeft.load_adapter_for_training(model, adapter_dir, spec)
    else:  # LoRA / QLoRA wrapping and (non-reentrant) gradient checkpointing; a no-op for plain full fine-tuning
        model = qpeft.apply_peft(model, spec, tokenizer)
    sequence_format = make_format(kind, tokenizer, cfg.input_spec(), train_on_inputs=m.train_on_inputs)
    return Loaded(model, tokenizer, sequence_format, kind, path)


def format_settings(cfg: TrainConfig, kind: str) -> dict[str, Any]:
    """The settings that change how an example is tokenised (part of the tokenisation cache key)."""
    m = cfg.model
    if kind == "seq2seq":
        return {"max_source_len": m.max_source_len, "max_target_len": m.max_target_len}
    return {"max_len": m.max_len, "prompt_format": m.prompt_format, "train_on_inputs": m.train_on_inputs}


def use_fast_dropout(model: torch.nn.Module) -> None:
    """Training on the CPU: every nn.Dropout draws its mask by gaps (qgen.models.dropout) and so does the attention of
    a T5 or a GPT-2 with attention dropout (qgen.models.attention, which also adds T5's position bias in the GEMM)."""
    use_gap_dropout(model)
    use_qgen_attention(model)
