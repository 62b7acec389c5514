"""`qgen export`: a trained checkpoint → a small shippable directory (fp16 weights that load as fp32, tokenizer,
saved input settings: qgen_config.yaml and input_spec.json), e.g. `runs/qgen-small-ja/train/best` →
`qgen/models/pretrained/qgen-small-ja`.

fp16 halves the size; the config keeps `dtype: float32`, so `from_pretrained` upcasts on load and nothing downstream
runs in half precision on a CPU. Export refuses weights that overflow fp16 and reports the largest rounding error.
"""

from __future__ import annotations

import argparse
import json
import shutil
import sys
import tempfile
from pathlib import Path

import torch
from safetensors.torch import load_file, save_file

from qgen.cli.parser import ArgumentParser, command_prog, output_dir, reports_input_errors
from qgen.cli.push_to_hub import connect, push
from qgen.core import console
from qgen.core.errors import QgenInputError
from qgen.core.files import atomic_dir
from qgen.core.outputs import check_outputs
from qgen.models.dtypes import DTYPES
from qgen.models.input_spec import INPUT_SPEC_NAME
from qgen.models.loading import load_model
from qgen.training.config import SAVED_NAME, load_saved
from qgen.training.distributed.sharded import is_sharded_dir

EXPORT_DTYPES = ("fp16", "bf16", "fp32")  # storage dtypes, the first the default
KEEP = ("config.json", "generation_config.json", "tokenizer.json", "tokenizer_config.json", "special_tokens_map.json",
        "spiece.model", SAVED_NAME, INPUT_SPEC_NAME)  # input_spec.json: absent from checkpoints written before it


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


def build_parser() -> argparse.ArgumentParser:
    p = ArgumentParser(prog=command_prog("qgen export"), description=__doc__.split("\n")[0])
    p.add_argument("--checkpoint", type=Path, required=True, help="a best/ or last/ directory")
    p.add_argument("--output", type=output_dir, help="directory to write (replaced atomically); required unless --push-to-hub")
    p.add_argument("--dtype", choices=EXPORT_DTYPES, default="fp16", help="storage dtype of the weights")
    p.add_argument("--card", type=Path, help="model card (Markdown) to ship as README.md")
    p.add_argument("--max-source-len", type=int, help="source tokens inference keeps (default: as trained)")
    hub = p.add_argument_group("hub (qgen.cli.push_to_hub)")
    hub.add_argument("--push-to-hub", metavar="ORG/NAME", help="upload --output (or, without it, the checkpoint as it "
                     "is, e.g. a LoRA adapter) with a model card filled from the run")
    hub.add_argument("--public", action="store_true", help="create the hub repository public (default: private)")
    hub.add_argument("--eval-metrics", type=Path, help="metrics JSON of `qgen eval` for the card (default: the newest "
                     "*.metrics.json under the run directory)")
    return p


@reports_input_errors
def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    if args.output is None and not args.push_to_hub:
        parser.error("--output is required (or --push-to-hub ORG/NAME to upload the checkpoint as it is)")
    console.configure()  # no "Writing model shards" bars: the written path is printed at the end
    if not args.checkpoint.is_dir():
        raise QgenInputError("checkpoint directory not found", path=args.checkpoint)
    if args.card is not None and not args.card.is_file():
        raise QgenInputError("model card not found", path=args.card)
    if args.eval_metrics is not None and not args.eval_metrics.is_file():
        raise QgenInputError("eval metrics not found", path=args.eval_metrics)
    if args.output is not None:
        check_outputs([("--output", args.output)], [("--checkpoint", args.checkpoint), ("--card", args.card)],
                      directories=True)
    hub = connect(args.push_to_hub, private=not args.public) if args.push_to_hub else None  # before reading weights
    if args.output is not None:
        try:
            worst = export(args.checkpoint, args.output, args.dtype, args.card, args.max_source_len)
        except ValueError as e:
            raise QgenInputError(str(e), path=args.checkpoint) from None
        size = sum(f.stat().st_size for f in args.output.iterdir()) / 2**20
        print(f"written {args.output} ({size:.1f} MB, {args.dtype}; largest weight rounding error {worst:.2e})")
    if hub is not None:
        url = push(args.checkpoint, args.output or args.checkpoint, args.push_to_hub, *hub, args.eval_metrics)
        print(f"uploaded to {args.push_to_hub} ({'public' if args.public else 'private'}): {url}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
