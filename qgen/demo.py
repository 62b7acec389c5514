"""`python -m qgen.demo` runs `qgen demo` (qgen.cli.demo); it works where the `qgen` script is not on PATH."""

import sys

from qgen.cli import main

if __name__ == "__main__":
    sys.exit(main(["demo", *sys.argv[1:]]))
