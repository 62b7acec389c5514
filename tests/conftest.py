"""Shared fixtures: real data location (QGEN_DATA_DIR), offline hub."""

import os
from pathlib import Path

import pytest

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")

REPO = Path(__file__).resolve().parents[1]


def _data_dir() -> Path:
    return Path(os.environ.get("QGEN_DATA_DIR", REPO.parent / "shared" / "data"))


@pytest.fixture(scope="session")
def data_dir() -> Path:
    """The real data folder; missing is a failure under CI=true, a skip elsewhere."""
    d = _data_dir()
    if not (d / "jglue").is_dir():
        msg = f"real data not found at {d} (set QGEN_DATA_DIR)"
        if os.environ.get("CI", "").lower() == "true":
            pytest.fail(msg)
        pytest.skip(msg)
    return d


# The data files the tests read, relative to a data folder: the real one (QGEN_DATA_DIR) or tests/fixtures/, which has
# the same layout. JaQuAD 0.1.0: train/ (30 shards) and dev/ (4 shards), SQuAD layout, contexts with line breaks.
DATA_FILES = {
    "jsquad_valid": "jglue/jsquad-v1.3/valid-v1.3.json",
    "jcqa_train": "jglue/jcommonsenseqa-v1.3/train-v1.3.json",
    "jcqa_valid": "jglue/jcommonsenseqa-v1.3/valid-v1.3.json",
    "jaquad_dir": "jaquad",
    "korquad_dev": "korquad/KorQuAD_v1.0_dev.json",
}


def data_file_fixtures(namespace: dict) -> None:
    """Define one session fixture per DATA_FILES entry in a conftest's namespace, each `data_dir / path`.

    tests/unit/conftest.py calls this too, after overriding `data_dir`: a session fixture is computed once, so the
    unit tests need fixtures of their own rather than sharing these (whose cached value may be the real data's)."""
    for name, relative in DATA_FILES.items():
        def fixture(data_dir, relative=relative) -> Path:
            return data_dir / relative

        fixture.__name__ = name
        namespace[name] = pytest.fixture(scope="session", name=name)(fixture)


data_file_fixtures(globals())
