"""Convert JAQKET / JCommonsenseQA quizzes to instruction JSON (train or eval style). See qgen.data.quiz."""

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # run from a checkout without installing

from qgen.cli.prepare_quiz import main  # noqa: E402

if __name__ == "__main__":
    sys.exit(main())
