"""`python -m qgen.build_model` runs `qgen build-model` (qgen.cli.build_model); it works without the `qgen` script."""

import sys

from qgen.cli import main

if __name__ == "__main__":
    sys.exit(main(["build-model", *sys.argv[1:]]))
