"""`qgen merge --adapter DIR --output DIR`: fold a LoRA adapter into its base and save a plain full model.

The base is loaded unquantised (merging into 4-bit weights would round the LoRA update away), grown to the adapter's
tokenizer, the adapter applied and `merge_and_unload`ed; the result is saved as safetensors with the tokenizer and a
`qgen_config.yaml` whose LoRA settings are cleared, so qgen inference and plain transformers load it as any checkpoint.
"""

from __future__ import annotations

import argparse
import logging
from pathlib import Path

from qgen.cli.parser import ArgumentParser, command_prog, output_dir
from qgen.core import console
from qgen.core.constants import DTYPE_NAMES, SAVED_NAME
from qgen.core.errors import QgenInputError
from qgen.core.files import atomic_dir
from qgen.core.outputs import check_outputs
from qgen.training.config import load_saved


def build_parser() -> argparse.ArgumentParser:
    """`qgen merge`'s flags: the adapter, its base, and where the merged model goes."""
    p = ArgumentParser(prog=command_prog("qgen merge"), description=__doc__.splitlines()[0])
    p.add_argument("--adapter", required=True, help="LoRA adapter directory (best/ or last/ of a --lora-r run)")
    p.add_argument("--output", required=True, type=output_dir, help="directory for the merged model (replaced atomically)")
    p.add_argument("--base", default=None, help="base model name/path; default: the one recorded in the adapter")
    p.add_argument("--dtype", default="auto", choices=DTYPE_NAMES,
                   help="weights dtype of the merged model; auto = the base model's own dtype")
    p.add_argument("--verbose", action="store_true", help="also show transformers' loading/saving bars and warnings")
    return p


def merge(adapter_dir: str | Path, output_dir: str | Path, base: str | None = None, dtype: str = "auto") -> Path:
    """Write the adapter merged into its base as a plain model at `output_dir` (atomically), its saved config
    pointing at itself with LoRA off, so it loads and trains as a full model."""
    from qgen.models.dtypes import DTYPES  # torch, peft: `qgen merge --help` and bad flags stay fast
    from qgen.models.lora import is_adapter_dir, load_adapter_model

    adapter_dir, output_dir = Path(adapter_dir), Path(output_dir)
    if not is_adapter_dir(adapter_dir):
        raise QgenInputError("not a LoRA adapter directory (no adapter_config.json)", path=adapter_dir)
    local_base = base if base and Path(base).exists() else None  # a hub name is no local input
    check_outputs([("--output", output_dir)], [("--adapter", adapter_dir), ("--base", local_base)], directories=True)
    kwargs = {} if dtype == "auto" else {"dtype": DTYPES[dtype]}
    model, tokenizer = load_adapter_model(adapter_dir, base=base, merge=True, **kwargs)
    with atomic_dir(output_dir) as tmp:
        model.save_pretrained(tmp, safe_serialization=True)
        tokenizer.save_pretrained(tmp)
        if (adapter_dir / SAVED_NAME).is_file():
            cfg = load_saved(adapter_dir)
            cfg.lora.lora_r, cfg.lora.quantization = 0, "none"
            cfg.model.model = str(output_dir)
            cfg.save(tmp)
    return output_dir


def main(argv: list[str] | None = None) -> int:
    """`qgen merge`: the merged model written, its path printed."""
    args = build_parser().parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    console.configure(args.verbose)
    out = merge(args.adapter, args.output, args.base, args.dtype)
    print(f"merged {args.adapter} into {out}")
    return 0
