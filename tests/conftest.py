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


@pytest.fixture(scope="session")
def jsquad_valid(data_dir) -> Path:
    return data_dir / "jglue" / "jsquad-v1.3" / "valid-v1.3.json"


@pytest.fixture(scope="session")
def jcqa_train(data_dir) -> Path:
    return data_dir / "jglue" / "jcommonsenseqa-v1.3" / "train-v1.3.json"


@pytest.fixture(scope="session")
def jcqa_valid(data_dir) -> Path:
    return data_dir / "jglue" / "jcommonsenseqa-v1.3" / "valid-v1.3.json"


@pytest.fixture(scope="session")
def jaquad_dir(data_dir) -> Path:
    """JaQuAD 0.1.0: train/ (30 shards) and dev/ (4 shards), SQuAD layout, contexts with line breaks."""
    return data_dir / "jaquad"


@pytest.fixture(scope="session")
def korquad_dev(data_dir) -> Path:
    return data_dir / "korquad" / "KorQuAD_v1.0_dev.json"
