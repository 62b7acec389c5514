"""Fine-tune a model with qgen's training loop (see `python train.py --help`); also `torchrun … train.py …`."""

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))  # run from a checkout without installing

from qgen.cli.train import main  # noqa: E402

if __name__ == "__main__":
    sys.exit(main())
