"""`qgen build-model`: an untrained model + sentencepiece tokenizer from training texts (the first step of a recipe).

The tokenizer is trained on every source and target of the given TSV/JSON files (`<hl>` and `[SEP]` are single
tokens); the architecture is a built-in one (`tiny-t5`, …) with its settings changed by `--arch-config` (YAML).
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
from qgen.models.tiny import TINY_MODELS, build_untrained


def build_parser() -> argparse.ArgumentParser:
    p = ArgumentParser(prog=command_prog("qgen build-model"), description=__doc__.split("\n")[0])
    p.add_argument("--texts", type=Path, nargs="+", required=True, help="TSV / JSON files whose texts train the tokenizer")
    p.add_argument("--arch", default="tiny-t5", choices=TINY_MODELS, help="architecture family")
    p.add_argument("--arch-config", type=Path, help="YAML mapping of model config settings (d_model, num_layers, …)")
    p.add_argument("--vocab-size", type=int, default=8000)
    p.add_argument("--seed", type=seed, default=0, help="seed of the random weights")
    p.add_argument("--position-prior", default="none", choices=("none", "locality", "copy"),
                   help="T5 only. locality: start the relative-position biases as sharp neighbour heads; copy: also "
                        "write a span-copying circuit into the initial weights (qgen/models/position_prior.py)")
    p.add_argument("--output", type=output_dir, required=True, help="directory to write (reused if it already holds a model)")
    return p


@reports_input_errors
def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    console.configure()  # no "Writing model shards" bars: the written path is printed at the end
    overrides = {}
    if args.arch_config:
        try:
            text = args.arch_config.read_text(encoding="utf-8")
        except OSError as e:
            raise QgenInputError(f"cannot read the architecture settings: {e.strerror}", path=args.arch_config) from None
        overrides = yaml_file.load(text, args.arch_config) or {}
        if not isinstance(overrides, dict):
            raise QgenInputError("expected a mapping of config settings", path=args.arch_config)
    texts = [t for path in args.texts for ex in read_examples(path) for t in (ex.source, ex.input, ex.target) if t]
    try:
        out = build_untrained(args.arch, texts, args.output, args.vocab_size, args.seed, overrides,
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
