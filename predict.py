"""Predict over a file with a trained checkpoint (see `python predict.py --help`)."""

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))  # run from a checkout without installing

from qgen.cli.predict import main  # noqa: E402

if __name__ == "__main__":
    sys.exit(main())
