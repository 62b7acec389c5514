"""Fetch JSQuAD / JCommonsenseQA / JAQKET / KorQuAD files, or copy them from $QGEN_DATA_MIRROR. See qgen.data.download."""

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # run from a checkout without installing

from qgen.cli.download import main  # noqa: E402

if __name__ == "__main__":
    sys.exit(main())
