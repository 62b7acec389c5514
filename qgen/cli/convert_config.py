"""`qgen convert-config axolotl.yml --output qgen.yaml`: an Axolotl config → the equivalent qgen config, and the mapping.

The file written holds only the settings the Axolotl file decides (its keys and Axolotl's defaults for the keys it
leaves out), grouped as qgen's own presets are; `train.py --config` reads either file to the same settings.
"""

from __future__ import annotations

import dataclasses
import sys
from pathlib import Path

import yaml

from qgen.cli.parser import ArgumentParser, command_prog, reports_input_errors
from qgen.core.errors import QgenInputError
from qgen.core.files import write_text
from qgen.training import axolotl
from qgen.training.config import GROUPS, from_dict


def build_parser() -> ArgumentParser:
    """`qgen convert-config`'s flags: the Axolotl file and where the qgen YAML goes."""
    p = ArgumentParser(prog=command_prog("qgen convert-config"), description=__doc__.split("\n")[0])
    p.add_argument("config", type=Path, help="the Axolotl YAML file")
    p.add_argument("--output", type=Path, help="qgen YAML to write (atomically); without it only the mapping is printed")
    return p


def read_axolotl(path: Path) -> dict:
    """The Axolotl YAML as a mapping (unreadable or not a mapping: one `error:` line naming the file)."""
    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8"))
    except (FileNotFoundError, IsADirectoryError):
        raise QgenInputError("config file not found", path=path) from None
    except yaml.YAMLError as e:
        raise QgenInputError(f"malformed YAML: {e}", path=path) from None
    if not axolotl.is_axolotl(data):
        raise QgenInputError("not an Axolotl config (it has no base_model and datasets keys)", path=path)
    return data


def grouped(settings: dict) -> dict:
    """Flat qgen settings grouped under model/data/optim/run/lora, in the dataclasses' field order."""
    out = {}
    for group, cls in GROUPS.items():
        keys = [f.name for f in dataclasses.fields(cls) if f.name in settings]
        if keys:
            out[group] = {k: settings[k] for k in keys}
    return out


@reports_input_errors
def main(argv: list[str] | None = None) -> int:
    """`qgen convert-config`: print the mapping, and write the qgen config with --output."""
    args = build_parser().parse_args(argv)
    settings, rows = axolotl.convert(read_axolotl(args.config), str(args.config))
    from_dict(settings, str(args.config))  # the result is a valid qgen config (types checked) before it is written
    print(axolotl.format_table(rows))
    if args.output:
        head = (f"# qgen config converted from the Axolotl config {args.config} by `qgen convert-config`\n"
                f"# (Axolotl's defaults from its schema at commit {axolotl.AXOLOTL_COMMIT}).\n")
        write_text(args.output, head + yaml.safe_dump(grouped(settings), allow_unicode=True, sort_keys=False))
        print(f"written {args.output}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
