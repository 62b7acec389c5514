"""Convert a SQuAD-layout file (JSQuAD, KorQuAD, SQuAD) to TSV rows for qa / aqg / aqg_hl. See qgen.data.jsquad."""

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # run from a checkout without installing

from qgen.cli.prepare_jsquad import main  # noqa: E402

if __name__ == "__main__":
    sys.exit(main())
