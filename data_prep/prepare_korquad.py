"""Convert KorQuAD (SQuAD layout) to {"text": ...} JSONL instruction prompts. See qgen.data.korquad."""

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # run from a checkout without installing

from qgen.cli.prepare_korquad import main  # noqa: E402

if __name__ == "__main__":
    sys.exit(main())
