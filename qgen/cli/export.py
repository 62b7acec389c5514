"""`qgen export`: a trained checkpoint → a small shippable directory (fp16 weights that load as fp32, tokenizer,
saved input settings: qgen_config.yaml and input_spec.json), e.g. `runs/qgen-small-ja/train/best` →
`qgen/models/pretrained/qgen-small-ja`; `--push-to-hub` uploads it with a model card (qgen.cli.push_to_hub).

The conversion is qgen.training.export (why fp16 loads as fp32, the overflow check, sharded checkpoints).
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from qgen.cli.parser import ArgumentParser, command_prog, output_dir, reports_input_errors
from qgen.cli.push_to_hub import connect, push
from qgen.core import console
from qgen.core.errors import QgenInputError
from qgen.core.outputs import check_outputs
from qgen.training.export import EXPORT_DTYPES, export


def build_parser() -> argparse.ArgumentParser:
    """`qgen export`'s flags: what to export, how it is stored, and where it goes (a directory and/or the hub)."""
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
    """`qgen export`: every path checked (and the hub reached) before a weight is read, then the export and upload."""
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
