"""Generate for one input with a trained checkpoint (see `python generate.py --help`)."""

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))  # run from a checkout without installing

from qgen.cli.generate import main  # noqa: E402

if __name__ == "__main__":
    sys.exit(main())
