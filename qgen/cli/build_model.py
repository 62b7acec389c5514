"""`qgen build-model`: an untrained model + sentencepiece tokenizer from training texts (the first step of a recipe).

The tokenizer is trained on every source and target of the given TSV/JSON files (`<hl>` and `[SEP]` are single
tokens); the architecture is a built-in one (`tiny-t5`, …) with its settings changed by `--arch-config` (YAML).
`--like NAME` builds a stand-in of a public model instead (its recorded config.json, a tokenizer with its conventions
and vocabulary size, random weights written shard by shard): qgen.models.stand_ins.
"""

from __future__ import annotations

import argparse
import re
import sys
from pathlib import Path

from qgen.cli.parser import ArgumentParser, command_prog, output_dir, reports_input_errors, seed
from qgen.core import console, yaml_file
from qgen.core.errors import QgenInputError
from qgen.data.examples import read_examples
from qgen.models.stand_ins import LIKE, build_like
from qgen.models.tiny import TINY_MODELS, build_untrained


def build_parser() -> argparse.ArgumentParser:
    """`qgen build-model`'s flags: the tokenizer's texts, the architecture (or the public model to stand in for)."""
    p = ArgumentParser(prog=command_prog("qgen build-model"), description=__doc__.split("\n")[0])
    p.add_argument("--texts", type=Path, nargs="+",
                   help="TSV / JSON files whose texts train the tokenizer (required without --like; with --like "
                        "default: JaQuAD train + JSQuAD valid paragraphs of $QGEN_DATA_DIR, KorQuAD too for Llama-2)")
    p.add_argument("--like", choices=tuple(LIKE), metavar="NAME",
                   help="a stand-in of this public model at its real size: " + ", ".join(LIKE))
    p.add_argument("--dtype", default="auto", choices=("auto", "float32", "float16", "bfloat16"),
                   help="--like: dtype of the written weights (auto: the model's own torch_dtype)")
    p.add_argument("--max-shard-size", default="2GB", help="--like: safetensors shard size (e.g. 2GB, 500MB)")
    p.add_argument("--arch", default="tiny-t5", choices=TINY_MODELS, help="architecture family")
    p.add_argument("--arch-config", type=Path, help="YAML mapping of model config settings (d_model, num_layers, …)")
    p.add_argument("--vocab-size", type=int, help="tokenizer vocabulary (default 8000; with --like the real model's)")
    p.add_argument("--seed", type=seed, default=0, help="seed of the random weights")
    p.add_argument("--position-prior", default="none", choices=("none", "locality", "copy"),
                   help="T5 only. locality: start the relative-position biases as sharp neighbour heads; copy: also "
                        "write a span-copying circuit into the initial weights (qgen/models/position_prior.py)")
    p.add_argument("--output", type=output_dir, required=True, help="directory to write (reused if it already holds a model)")
    return p


@reports_input_errors
def main(argv: list[str] | None = None) -> int:
    """`qgen build-model`: the model written, or one `error:` line for settings it cannot build."""
    args = build_parser().parse_args(argv)
    console.configure()  # no "Writing model shards" bars: the written path is printed at the end
    overrides: dict = {}
    if args.arch_config:
        try:
            text = args.arch_config.read_text(encoding="utf-8")
        except OSError as e:
            raise QgenInputError(f"cannot read the architecture settings: {e.strerror}", path=args.arch_config) from None
        overrides = yaml_file.load(text, args.arch_config) or {}
        if not isinstance(overrides, dict):
            raise QgenInputError("expected a mapping of config settings", path=args.arch_config)
    if not args.texts and not args.like:
        raise QgenInputError("give --texts (files whose texts train the tokenizer) or --like NAME")
    texts = [t for path in args.texts or () for ex in read_examples(path) for t in (ex.source, ex.input, ex.target)
             if t] or None
    try:
        if args.like:
            out = build_like(args.like, args.output, texts, vocab_size=args.vocab_size, dtype=args.dtype,
                             max_shard_size=args.max_shard_size, seed=args.seed, config_overrides=overrides)
        else:
            out = build_untrained(args.arch, texts or [], args.output, args.vocab_size or 8000, args.seed, overrides,
                                  args.position_prior)
    except ValueError as e:
        raise QgenInputError(str(e), path=args.arch_config) from None
    except RuntimeError as e:  # sentencepiece: the vocabulary cannot hold every character of the texts
        found = re.search(r"(\d+) vs (\d+)", str(e))
        if "smaller than required_chars" not in str(e) or not found:
            raise
        raise QgenInputError(f"--vocab-size {found[1]} is smaller than the {found[2]} distinct characters of "
                             f"the texts; give at least {int(found[2]) + 100}") from None
    print(f"written {out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
