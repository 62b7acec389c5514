"""`python -m qgen.cli <command>`: the same as `qgen <command>`."""

import sys

from qgen.cli import main

sys.exit(main())
