"""A trained checkpoint → a small shippable directory: weights stored in fp16 (or bf16 / fp32) that load as fp32,
the tokenizer and the saved input settings (qgen_config.yaml, input_spec.json); `qgen export` is its command.

fp16 halves the size; the config keeps `dtype: float32`, so `from_pretrained` upcasts on load and nothing downstream
runs in half precision on a CPU. Export refuses weights that overflow the storage dtype and reports the largest
rounding error. A sharded checkpoint (`--fsdp`'s last/) is gathered into a plain one first, offline.
"""

from __future__ import annotations

import json
import shutil
import tempfile
from pathlib import Path

import torch
from safetensors.torch import load_file, save_file

from qgen.core.constants import SAVED_NAME
from qgen.core.errors import QgenInputError
from qgen.core.files import atomic_dir
from qgen.models.dtypes import DTYPES
from qgen.models.input_spec import INPUT_SPEC_NAME
from qgen.models.loading import load_model
from qgen.training.config import load_saved
from qgen.training.distributed.sharded import is_sharded_dir

EXPORT_DTYPES = ("fp16", "bf16", "fp32")  # storage dtypes, the first the default
KEEP = ("config.json", "generation_config.json", "tokenizer.json", "tokenizer_config.json", "special_tokens_map.json",
        "spiece.model", SAVED_NAME, INPUT_SPEC_NAME)  # each copied when the checkpoint has it


def convert(weights: dict[str, torch.Tensor], dtype: torch.dtype) -> tuple[dict[str, torch.Tensor], float]:
    """Weights cast to `dtype` and the largest absolute rounding error; ValueError if a value overflows."""
    out, worst = {}, 0.0
    for name, w in weights.items():
        cast = w.to(dtype) if w.is_floating_point() else w
        if w.is_floating_point():
            if not torch.isfinite(cast).all():
                raise ValueError(f"{name} overflows {dtype}")
            worst = max(worst, float((cast.float() - w.float()).abs().max()))
        out[name] = cast.contiguous()
    return out, worst


def export(checkpoint: Path, output: Path, dtype: str = "fp16", card: Path | None = None,
           max_source_len: int | None = None) -> float:
    """Write `output` from `checkpoint`; returns the largest weight rounding error. `max_source_len` sets the input
    length inference keeps (saved in qgen_config.yaml and input_spec.json), e.g. a whole paragraph for a model trained on sentences."""
    if is_sharded_dir(checkpoint):  # --fsdp's last/: gather the shards into a plain directory first, offline
        with tempfile.TemporaryDirectory(prefix=".export.", dir=output.parent if output.parent.is_dir() else None) as d:
            return export(unshard(checkpoint, Path(d) / "plain"), output, dtype, card, max_source_len)
    src = checkpoint / "model.safetensors"
    if not src.is_file():
        raise QgenInputError("no model.safetensors (a full-weights checkpoint is needed, not a LoRA adapter)",
                             path=checkpoint)
    load_model(str(checkpoint))  # refuses weights that do not fit config.json or are not finite, naming them
    weights, worst = convert(load_file(src), DTYPES[dtype])
    with atomic_dir(output) as tmp:
        for name in KEEP:
            if (checkpoint / name).is_file():
                shutil.copy2(checkpoint / name, tmp / name)
        config = json.loads((tmp / "config.json").read_text(encoding="utf-8"))
        config["dtype"] = "float32"  # load (upcast) as fp32 whatever the storage dtype
        (tmp / "config.json").write_text(json.dumps(config, indent=2) + "\n", encoding="utf-8")
        save_file(weights, tmp / "model.safetensors", metadata={"format": "pt"})
        if max_source_len and (tmp / SAVED_NAME).is_file():
            cfg = load_saved(tmp)
            cfg.model.max_source_len = max_source_len
            cfg.save(tmp)
        if card is not None:
            shutil.copy2(card, tmp / "README.md")
    return worst


def unshard(checkpoint: Path, out: Path) -> Path:
    """A sharded checkpoint (torch.distributed.checkpoint, `--fsdp`'s last/) → a plain Hugging Face directory `out`:
    the model is built from its config.json and filled from the shards in this one process (no process group, no
    optimiser state read), then saved with save_pretrained; the tokenizer and settings files are copied."""
    from qgen.models.loading import load_config, model_kind  # transformers: only for a sharded checkpoint
    from qgen.training.distributed.sharded import consolidate

    if (checkpoint / "adapter_config.json").is_file():
        raise QgenInputError("a LoRA run's sharded last/ holds adapter and base together; export best/ after "
                             "`qgen merge`", path=checkpoint)
    from transformers import AutoModelForCausalLM, AutoModelForSeq2SeqLM  # as above

    config = load_config(str(checkpoint))
    cls = AutoModelForSeq2SeqLM if model_kind(config) == "seq2seq" else AutoModelForCausalLM
    model = cls.from_config(config)
    try:
        consolidate(checkpoint, model)
    except Exception as e:  # DCP's CheckpointException: a key or shape the model does not have, a missing shard
        raise QgenInputError(f"cannot read the sharded weights: {(str(e).strip().splitlines() or [type(e).__name__])[0][:300]}",
                             path=checkpoint / "dcp") from None
    model.save_pretrained(out, safe_serialization=True)
    for name in KEEP:
        if (checkpoint / name).is_file() and not (out / name).is_file():
            shutil.copy2(checkpoint / name, out / name)
    return out
