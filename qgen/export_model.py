"""`python -m qgen.export_model` runs `qgen export` (qgen.cli.export); it works without the `qgen` script on PATH."""

import sys

from qgen.cli import main

if __name__ == "__main__":
    sys.exit(main(["export", *sys.argv[1:]]))
