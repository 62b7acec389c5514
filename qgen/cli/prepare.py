"""`qgen prepare`: convert data files with a YAML template (qgen.data.template) — the general form of prepare-*.

    qgen prepare --input data/jglue/jsquad-v1.3/valid-v1.3.json --template jsquad-aqg_hl --output aqg_hl.tsv
    qgen prepare --input my.csv --template my_template.yaml --output train.json --set lang=ko --set limit=100

`--template` is a file, or the name of one shipped in configs/templates/ (listed by --help). Prints `written N to PATH`
and `skipped M` (reasons with ids on stderr) like the other prepare commands; writes atomically; exits 2 with one
`error: …` line on a bad template or input.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import yaml

from qgen.cli.parser import ArgumentParser, command_prog, output_file, reports_input_errors
from qgen.core.errors import QgenInputError
from qgen.core.outputs import check_outputs
from qgen.data.skips import print_reasons, print_summary
from qgen.data.template import load_template

TEMPLATES_DIR = Path(__file__).resolve().parents[2] / "configs" / "templates"


def shipped_templates() -> dict[str, Path]:
    """{name: path} of the templates in configs/templates/."""
    return {p.stem: p for p in sorted(TEMPLATES_DIR.glob("*.yaml"))} if TEMPLATES_DIR.is_dir() else {}


def resolve_template(name: str) -> Path:
    """A template file as given, else a shipped template of that name."""
    path = Path(name)
    if path.exists() or path.suffix or len(path.parts) > 1:
        return path
    shipped = shipped_templates()
    if name not in shipped:
        raise QgenInputError(f"no such file, and no shipped template of that name (shipped: {', '.join(shipped)})",
                             path=path)
    return shipped[name]


def parse_sets(items: list[str]) -> dict:
    """{name: value} from `name=value` strings; the value is read as YAML (0.1, true, null, ko, [a, b])."""
    out = {}
    for item in items:
        name, sep, value = item.partition("=")
        if not sep or not name.strip().isidentifier():
            raise ValueError(f"--set expects NAME=VALUE, got {item!r}")
        try:
            out[name.strip()] = yaml.safe_load(value) if value.strip() else None
        except yaml.YAMLError:
            out[name.strip()] = value
    return out


def build_parser() -> argparse.ArgumentParser:
    """`qgen prepare`'s flags: the input, the YAML template, and the outputs."""
    lines = []
    for name, path in shipped_templates().items():
        try:
            lines.append(f"  {name:<24} {load_template(path).description}")
        except QgenInputError as e:
            lines.append(f"  {name:<24} (broken: {e})")
    p = ArgumentParser(
        prog=command_prog("qgen prepare"),
        description="Convert data files with a YAML template: records → fields → steps → TSV / JSON / JSONL rows.",
        epilog="shipped templates (configs/templates/):\n" + "\n".join(lines),
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument("--input", required=True, type=Path, nargs="+", help="input file(s) (squad: also directories)")
    p.add_argument("--template", required=True, help="template YAML file, or a shipped template's name")
    p.add_argument("--output", required=True, type=output_file, help="file to write")
    p.add_argument("--holdout-output", type=output_file, default=None,
                   help="file for the records a holdout step sets aside (templates with a holdout option)")
    p.add_argument("--set", dest="options", action="append", default=[], metavar="NAME=VALUE",
                   help="override a template option (repeatable); VALUE is read as YAML: 0.1, true, null, ko")
    return p


@reports_input_errors
def main(argv: list[str] | None = None) -> int:
    """`qgen prepare`: convert with the template, then report what was written and what was skipped."""
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        overrides = parse_sets(args.options)
    except ValueError as e:
        parser.error(str(e))
    check_outputs([("--output", args.output), ("--holdout-output", args.holdout_output)],
                  [("--input", p) for p in args.input])
    template = load_template(resolve_template(args.template), overrides)
    if template.holds_out and args.holdout_output is None:
        raise QgenInputError("the template holds records out (its holdout step has a fraction): give "
                             "--holdout-output", path=template.path)
    if args.holdout_output is not None and not template.holds_out:
        raise QgenInputError("--holdout-output given, but the template's holdout step is off or has no fraction "
                             "(e.g. --set holdout=0.1)", path=template.path)
    rows, state = template.convert(args.input)
    outputs = {args.output: rows["output"]}
    if args.holdout_output is not None:
        outputs[args.holdout_output] = rows["holdout"]
    if not any(outputs.values()):
        print_reasons(state.skips)
        raise QgenInputError(f"no usable records ({len(state.skips)} skipped)", path=args.input[0])
    written = template.write(outputs)
    print_summary(written, state.skips, extra=state.notes)
    for line in state.warnings:
        print(line, file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
